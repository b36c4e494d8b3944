"""Reads shared by several pages: knowledge-base search, articles matching a ticket, the
timeline sources this app plugs into the customer page, and the rows of the interaction and
ticket lists (the list pages and their exports show the same rows)."""

import re

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.models import User
from core.pagination import SortOption
from customers.timeline import TimelineEntry
from interactions.filters import InteractionFilter, TicketFilter
from interactions.models import Article, FollowUpEvent, Interaction, Task, Ticket

# Both lists are newest first (inter_occurred_idx, ticket_created_idx).
INTERACTION_LIST_SORT = SortOption("occurred_at", descending=True)
TICKET_LIST_SORT = SortOption("created_at", descending=True)


def interaction_list_filter(user: User, params: QueryDict) -> InteractionFilter:
    """The interaction list's filters over the interactions `user` may see. The list page and
    the export both start here (each adds the joins it needs), ordered by INTERACTION_LIST_SORT."""
    return InteractionFilter(params, queryset=Interaction.objects.visible_to(user))


def ticket_list_filter(user: User, params: QueryDict) -> TicketFilter:
    """The ticket list's filters over the tickets `user` may see (list page and export),
    ordered by TICKET_LIST_SORT."""
    return TicketFilter(params, queryset=Ticket.objects.visible_to(user), user=user)


def article_search(query: str, category: str = "") -> QuerySet:
    qs = Article.objects.select_related("created_by")
    if category in Ticket.Category.values:
        qs = qs.filter(category=category)
    query = query.strip()
    if query:
        qs = qs.filter(Q(title__icontains=query) | Q(body__icontains=query))
    return qs


def articles_matching(text: str, limit: int = 5) -> list[Article]:
    """Articles whose titles resemble `text` (a ticket's subject), best first.

    PostgreSQL ranks by trigram word similarity; elsewhere any word of 2+ characters in the
    title counts. One query.
    """
    text = text.strip()
    if not text:
        return []
    if connection.vendor == "postgresql":
        return list(
            Article.objects.annotate(score=TrigramWordSimilarity(text, "title"))
            .filter(score__gte=0.3)
            .order_by("-score", "-updated_at")
            .only("id", "title", "category", "updated_at")[:limit]
        )
    words = [w for w in re.split(r"\W+", text) if len(w) >= 2]
    q = Q()
    for word in words:
        q |= Q(title__icontains=word)
    if not q:
        return []
    return list(Article.objects.filter(q).only("id", "title", "category", "updated_at")[:limit])


# --- customer timeline sources (one bounded query each) -----------------------------------

_CHANNEL_ICONS = {
    "phone": "telephone",
    "email": "envelope",
    "meeting": "people",
    "visit": "geo-alt",
    "wechat": "wechat",
    "sms": "chat-dots",
    "social_media": "share",
    "other": "chat-left-text",
}


def interaction_entries(customer, user, limit: int) -> list[TimelineEntry]:
    rows = (
        Interaction.objects.filter(customer=customer)
        .select_related("created_by")
        .only("id", "kind", "channel", "direction", "occurred_at", "summary", "outcome", "created_by")
        .order_by("-occurred_at", "-id")[:limit]
    )
    entries = []
    for row in rows:
        title = f"{row.get_channel_display()} · {row.summary}"
        if row.kind != Interaction.Kind.CONTACT:
            title = f"{row.get_kind_display()}: {title}"
        entries.append(
            TimelineEntry(
                at=row.occurred_at,
                kind="interaction",
                icon="exclamation-octagon"
                if row.kind == Interaction.Kind.COMPLAINT
                else _CHANNEL_ICONS.get(row.channel, "chat"),
                title=title,
                body=row.outcome,
                url=reverse("interactions:interaction_detail", args=[row.pk]),
                actor=str(row.created_by) if row.created_by_id else None,
            )
        )
    return entries


def task_entries(customer, user, limit: int) -> list[TimelineEntry]:
    rows = (
        Task.objects.filter(customer=customer)
        .select_related("assignee")
        .only("id", "title", "status", "due_at", "completed_at", "assignee")
        .order_by("-due_at", "-id")[:limit]
    )
    entries = []
    for row in rows:
        if row.status == Task.Status.DONE:
            icon, title = "check2-square", _("Task done: %(title)s") % {"title": row.title}
        elif row.status == Task.Status.CANCELLED:
            icon, title = "x-square", _("Task cancelled: %(title)s") % {"title": row.title}
        else:
            icon, title = "square", _("Task due: %(title)s") % {"title": row.title}
        entries.append(
            TimelineEntry(
                at=row.completed_at or row.due_at,
                kind="task",
                icon=icon,
                title=title,
                url=reverse("interactions:task_edit", args=[row.pk]),
                actor=str(row.assignee),
            )
        )
    return entries


def followup_entries(customer, user, limit: int) -> list[TimelineEntry]:
    """The follow-up escalation's stages (跟进超时): owner reminded, managers told."""
    rows = (
        FollowUpEvent.objects.filter(customer=customer).select_related("owner").order_by("-at", "-id")[:limit]
    )
    entries = []
    for row in rows:
        owner = str(row.owner) if row.owner_id else _("a former colleague")
        days = ngettext("no interaction for %(days)d day", "no interaction for %(days)d days", row.days) % {
            "days": row.days
        }
        if row.kind == FollowUpEvent.Kind.REMINDER:
            icon = "alarm"
            title = _("Follow-up overdue: %(owner)s reminded (%(days)s)") % {"owner": owner, "days": days}
            body = ""
        else:
            icon = "exclamation-octagon"
            title = _("Follow-up escalated, customer marked high-risk (%(days)s)") % {"days": days}
            parts = []
            if row.notified:
                parts.append(_("Told: %(names)s") % {"names": row.notified})
            if row.returned_to_pool:
                parts.append(_("Returned to the customer pool (owner was %(owner)s).") % {"owner": owner})
            body = " ".join(parts)
        entries.append(TimelineEntry(at=row.at, kind="followup", icon=icon, title=title, body=body))
    return entries


def ticket_entries(customer, user, limit: int) -> list[TimelineEntry]:
    rows = (
        Ticket.objects.filter(customer=customer)
        .select_related("assignee")
        .only("id", "subject", "status", "category", "created_at", "assignee")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        TimelineEntry(
            at=row.created_at,
            kind="ticket",
            icon="life-preserver",
            title=_("Ticket #%(number)s: %(subject)s") % {"number": row.pk, "subject": row.subject},
            body=f"{row.get_category_display()} · {row.get_status_display()}",
            url=reverse("interactions:ticket_detail", args=[row.pk]),
            actor=str(row.assignee) if row.assignee_id else None,
        )
        for row in rows
    ]
