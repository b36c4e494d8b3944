"""What interactions adds to a customer's access export and erasure (customers/privacy.py).

Erasure keeps every row (counts, dates, kinds, channels, satisfaction, SLA figures stay right
in reports) and replaces the free text written about the person: summaries and titles become
"—", details, outcomes, notes, descriptions, resolutions and comments are emptied. A
knowledge-base article made from one of their tickets keeps its text with the person's
names, numbers and addresses replaced.
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.privacy import ERASED_TEXT, ErasureContext, Sheet, model_sheet, scrub_values
from interactions.models import Article, Interaction, Task, Ticket, TicketComment, TicketStatusChange


def export(customer: Customer) -> list[Sheet]:
    interactions = (
        Interaction.objects.filter(customer=customer)
        .select_related("contact", "created_by")
        .order_by("occurred_at", "pk")
    )
    tasks = (
        Task.objects.filter(customer=customer)
        .select_related("assignee", "created_by")
        .order_by("due_at", "pk")
    )
    tickets = (
        Ticket.objects.filter(customer=customer)
        .select_related("contact", "assignee", "created_by")
        .order_by("created_at", "pk")
    )
    comments = (
        TicketComment.objects.filter(ticket__customer=customer)
        .select_related("ticket", "author")
        .order_by("created_at", "pk")
    )
    changes = (
        TicketStatusChange.objects.filter(ticket__customer=customer)
        .select_related("ticket", "changed_by")
        .order_by("changed_at", "pk")
    )
    return [
        model_sheet(
            "interactions",
            _("Interactions"),
            Interaction,
            interactions,
            [
                "occurred_at",
                "kind",
                "channel",
                "direction",
                "contact",
                "summary",
                "details",
                "outcome",
                "satisfaction",
                "next_step",
                "created_by",
            ],
        ),
        model_sheet(
            "tasks",
            _("Tasks"),
            Task,
            tasks,
            [
                "title",
                "notes",
                "due_at",
                "priority",
                "status",
                "assignee",
                "created_by",
                "created_at",
                "completed_at",
            ],
        ),
        model_sheet(
            "tickets",
            _("Tickets"),
            Ticket,
            tickets,
            [
                "id",
                "subject",
                "description",
                "category",
                "priority",
                "status",
                "contact",
                "assignee",
                "resolution",
                "satisfaction",
                "created_by",
                "created_at",
                "resolved_at",
                "closed_at",
            ],
        ),
        model_sheet(
            "ticket_comments",
            _("Ticket comments"),
            TicketComment,
            comments,
            ["ticket", "created_at", "author", "internal", "body"],
        ),
        model_sheet(
            "ticket_status_changes",
            _("Ticket status changes"),
            TicketStatusChange,
            changes,
            ["ticket", "changed_at", "from_status", "to_status", "changed_by", "note"],
        ),
    ]


def erase(ctx: ErasureContext) -> None:
    ids = ctx.customer_ids
    ctx.add_titles(Task.objects.filter(customer_id__in=ids).values_list("title", flat=True))
    ctx.add_titles(Ticket.objects.filter(customer_id__in=ids).values_list("subject", flat=True))
    ctx.count(
        "interactions",
        Interaction.objects.filter(customer_id__in=ids).update(
            summary=ERASED_TEXT, details="", outcome="", next_step=""
        ),
    )
    ctx.count("tasks", Task.objects.filter(customer_id__in=ids).update(title=ERASED_TEXT, notes=""))
    tickets = Ticket.objects.filter(customer_id__in=ids)
    ticket_ids = list(tickets.values_list("pk", flat=True))
    ctx.count("tickets", tickets.update(subject=ERASED_TEXT, description="", resolution=""))
    ctx.count("ticket_comments", TicketComment.objects.filter(ticket_id__in=ticket_ids).update(body=""))
    TicketStatusChange.objects.filter(ticket_id__in=ticket_ids).exclude(note="").update(note="")
    ctx.count("articles", scrub_values(Article.objects.all(), ["title", "body"], ctx.values))


def recent_activity(cutoff: datetime):
    return (
        Exists(Interaction.objects.filter(customer=OuterRef("pk"), occurred_at__gte=cutoff))
        | Exists(
            Ticket.objects.filter(
                Q(created_at__gte=cutoff) | Q(updated_at__gte=cutoff), customer=OuterRef("pk")
            )
        )
        | Exists(Task.objects.filter(customer=OuterRef("pk"), status=Task.Status.OPEN, due_at__gte=cutoff))
    )
