"""Writes on interactions, tasks, tickets and articles; shared by views, jobs and the CLI."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.models import User
from core.notifications import notify
from customers.models import Customer
from interactions.models import (
    Article,
    Interaction,
    Priority,
    Task,
    Ticket,
    TicketComment,
    TicketStatusChange,
)


def _notify(
    recipient: User | None, *, kind: str, title: Callable[[], str], url: str, dedupe_key: str = ""
) -> None:
    """Notify in the recipient's own language (the title is built inside their language)."""
    if recipient is None:
        return
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        notify(recipient=recipient, kind=kind, title=title(), url=url, dedupe_key=dedupe_key)


# --- interactions ------------------------------------------------------------------------


def customer_touch(*, customer_id: int, at: datetime, user: User | None = None) -> None:
    """Move the customer's "last contacted at" forward (never back), in one UPDATE that
    stays right when two interactions are logged at once.

    Moving it forward also ends the follow-up escalation period (跟进超时): the reminder and
    high-risk marks are cleared in the same UPDATE and the open follow-up reminder task is
    completed (by `user`); the next period counts from this contact."""
    moved = (
        Customer.objects.filter(pk=customer_id)
        .filter(Q(last_contacted_at__lt=at) | Q(last_contacted_at__isnull=True))
        .update(last_contacted_at=at, followup_reminded_at=None, followup_escalated_at=None)
    )
    if moved:
        from interactions.escalation import followup_tasks_close

        followup_tasks_close(customer_id=customer_id, user=user, status=Task.Status.DONE)


@transaction.atomic
def interaction_log(*, user: User | None, customer: Customer, data: dict[str, Any]) -> Interaction:
    """Record a contact with a customer and keep the customer's "last contacted" current."""
    interaction = Interaction(customer=customer, created_by=user, **data)
    if interaction.contact_id and interaction.contact.customer_id != customer.pk:
        raise ValidationError({"contact": _("This contact belongs to another customer.")})
    if interaction.occurred_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"occurred_at": _("An interaction cannot be in the future.")})
    interaction.full_clean()
    interaction.save()
    customer_touch(customer_id=customer.pk, at=interaction.occurred_at, user=user)
    return interaction


@transaction.atomic
def interaction_update(*, interaction: Interaction, user: User, data: dict[str, Any]) -> Interaction:
    for field, value in data.items():
        setattr(interaction, field, value)
    if interaction.occurred_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"occurred_at": _("An interaction cannot be in the future.")})
    interaction.full_clean()
    interaction.save()
    customer_touch(customer_id=interaction.customer_id, at=interaction.occurred_at, user=user)
    return interaction


@transaction.atomic
def complaint_to_ticket(*, interaction: Interaction, user: User) -> Ticket:
    """Open a complaint ticket from a logged complaint or feedback (once)."""
    interaction = Interaction.objects.select_for_update().get(pk=interaction.pk)
    if interaction.ticket_id:
        return interaction.ticket
    ticket = ticket_create(
        user=user,
        data={
            "customer": interaction.customer,
            "contact": interaction.contact,
            "subject": interaction.summary,
            "description": interaction.details,
            "category": Ticket.Category.COMPLAINT
            if interaction.kind == Interaction.Kind.COMPLAINT
            else Ticket.Category.OTHER,
            "satisfaction": interaction.satisfaction,
        },
    )
    interaction.ticket = ticket
    interaction.save(update_fields=["ticket"])
    return ticket


# --- tasks ------------------------------------------------------------------------------


def _task_url(task: Task) -> str:
    return reverse("interactions:task_edit", args=[task.pk])


def _validate_task(task: Task, *, validate_constraints: bool = True) -> None:
    if task.remind_at and task.remind_at > task.due_at:
        raise ValidationError({"remind_at": _("The reminder must come before the due time.")})
    if not task.assignee.is_active:
        raise ValidationError({"assignee": _("This user is no longer active.")})
    task.full_clean(validate_constraints=validate_constraints)


def _notify_assigned(task: Task, user: User | None) -> None:
    if task.assignee_id != getattr(user, "pk", None):
        transaction.on_commit(
            lambda: _notify(
                task.assignee,
                kind="task_assigned",
                title=lambda: _("New task for you: %(title)s") % {"title": task.title},
                url=_task_url(task),
                dedupe_key=f"task:{task.pk}:assigned:{task.assignee_id}",
            )
        )


@transaction.atomic
def task_create(*, user: User | None, data: dict[str, Any], subject: models.Model | None = None) -> Task:
    task = Task(created_by=user, **data)
    if subject is not None:
        task.subject = subject
    _validate_task(task)
    task.save()
    _notify_assigned(task, user)
    return task


def task_create_for_rule(
    *,
    rule: str,
    rule_key: str,
    assignee: User,
    title: str,
    due_at: datetime,
    customer: Customer | None = None,
    subject: models.Model | None = None,
    notes: str = "",
    priority: int = Task.priority.field.default,
    notify_assignee: bool = True,
) -> tuple[Task, bool]:
    """Create the task an automation rule asks for, once: `rule_key` names the occasion
    (e.g. "stage-entered:opportunity:12:stage:3"); a second call returns the first task.
    Safe when two workers run the same rule at the same moment. `notify_assignee=False`
    when the rule sends its own, more telling notification."""
    existing = Task.objects.filter(rule_key=rule_key).first()
    if existing is not None:
        return existing, False
    task = Task(
        rule=rule,
        rule_key=rule_key,
        origin=Task.Origin.AUTOMATIC,
        assignee=assignee,
        title=title,
        due_at=due_at,
        customer=customer,
        notes=notes,
        priority=priority,
    )
    if subject is not None:
        task.subject = subject
    try:
        with transaction.atomic():
            # The database enforces the rule key (a racing worker gets IntegrityError).
            _validate_task(task, validate_constraints=False)
            task.save()
    except IntegrityError:
        return Task.objects.get(rule_key=rule_key), False
    if notify_assignee:
        _notify_assigned(task, None)
    return task, True


@transaction.atomic
def task_update(*, task: Task, user: User, data: dict[str, Any]) -> Task:
    old_assignee_id = Task.objects.filter(pk=task.pk).values_list("assignee_id", flat=True).get()
    for field, value in data.items():
        setattr(task, field, value)
    _validate_task(task)
    task.save()
    if task.assignee_id != old_assignee_id:
        _notify_assigned(task, user)
    return task


def _require_open(task: Task) -> None:
    if not task.is_open:
        raise ValidationError(_("This task is already closed."), code="task_closed")


@transaction.atomic
def task_complete(*, task: Task, user: User) -> Task:
    _require_open(task)
    task.status = Task.Status.DONE
    task.completed_at = timezone.now()
    task.completed_by = user
    task.save(update_fields=["status", "completed_at", "completed_by"])
    if task.rule == "info_update" and task.customer_id:
        # Completing "verify details" is confirming them.
        from customers.services import customer_mark_verified

        customer = Customer.objects.get(pk=task.customer_id)
        if customer.info_verified_at is None or customer.info_verified_at < task.created_at:
            customer_mark_verified(customer=customer, user=user)
    return task


@transaction.atomic
def task_cancel(*, task: Task, user: User) -> Task:
    _require_open(task)
    task.status = Task.Status.CANCELLED
    task.completed_at = timezone.now()
    task.completed_by = user
    task.save(update_fields=["status", "completed_at", "completed_by"])
    return task


@transaction.atomic
def task_reopen(*, task: Task, user: User) -> Task:
    if task.is_open:
        return task
    task.status = Task.Status.OPEN
    task.completed_at = None
    task.completed_by = None
    task.save(update_fields=["status", "completed_at", "completed_by"])
    return task


@transaction.atomic
def task_postpone(*, task: Task, user: User, until: datetime) -> Task:
    """Move the due time (and the reminder by the same amount)."""
    _require_open(task)
    if until <= timezone.now():
        raise ValidationError(_("Postpone to a time in the future."), code="past")
    shift = until - task.due_at
    task.due_at = until
    if task.remind_at:
        task.remind_at = task.remind_at + shift
    task.save(update_fields=["due_at", "remind_at"])
    return task


@transaction.atomic
def tasks_reassign(*, tasks: models.QuerySet, assignee: User, user: User) -> int:
    if not assignee.is_active:
        raise ValidationError(_("This user is no longer active."), code="inactive")
    changed = list(tasks.open().exclude(assignee=assignee))
    for task in changed:
        task.assignee = assignee
    Task.objects.bulk_update(changed, ["assignee"])
    for task in changed:
        _notify_assigned(task, user)
    return len(changed)


# --- tickets ------------------------------------------------------------------------------


def sla_due_for(priority: int, opened_at: datetime) -> datetime:
    """Opening time + the hours settings.TICKET_SLA_HOURS gives this priority."""
    return opened_at + timedelta(hours=settings.TICKET_SLA_HOURS[Priority(priority).name.lower()])


def _ticket_url(ticket: Ticket) -> str:
    return reverse("interactions:ticket_detail", args=[ticket.pk])


def _record_status(ticket: Ticket, old: str, user: User | None, note: str = "") -> None:
    TicketStatusChange.objects.create(
        ticket=ticket, from_status=old, to_status=ticket.status, changed_by=user, note=note
    )


def _notify_ticket_assigned(ticket: Ticket, user: User | None) -> None:
    if ticket.assignee_id and ticket.assignee_id != getattr(user, "pk", None):
        transaction.on_commit(
            lambda: _notify(
                ticket.assignee,
                kind="ticket_assigned",
                title=lambda: (
                    _("Ticket #%(number)s assigned to you: %(subject)s")
                    % {"number": ticket.pk, "subject": ticket.subject}
                ),
                url=_ticket_url(ticket),
                dedupe_key=f"ticket:{ticket.pk}:assigned:{ticket.assignee_id}",
            )
        )


@transaction.atomic
def ticket_create(*, user: User | None, data: dict[str, Any]) -> Ticket:
    ticket = Ticket(created_by=user, **data)
    if ticket.contact_id and ticket.contact.customer_id != ticket.customer_id:
        raise ValidationError({"contact": _("This contact belongs to another customer.")})
    ticket.created_at = timezone.now()
    ticket.sla_due_at = sla_due_for(ticket.priority, ticket.created_at)
    ticket.status = Ticket.Status.ASSIGNED if ticket.assignee_id else Ticket.Status.NEW
    ticket.full_clean()
    ticket.save()
    _record_status(ticket, "", user)
    _notify_ticket_assigned(ticket, user)
    return ticket


@transaction.atomic
def ticket_update(*, ticket: Ticket, user: User, data: dict[str, Any]) -> Ticket:
    """Edit subject, description, category, priority (the SLA follows the priority)."""
    old_priority = Ticket.objects.filter(pk=ticket.pk).values_list("priority", flat=True).get()
    for field, value in data.items():
        setattr(ticket, field, value)
    if ticket.priority != old_priority:
        ticket.sla_due_at = sla_due_for(ticket.priority, ticket.created_at)
    ticket.full_clean()
    ticket.save()
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User, user: User) -> Ticket:
    if not assignee.is_active:
        raise ValidationError(_("This user is no longer active."), code="inactive")
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    ticket.assignee = assignee
    fields = ["assignee", "updated_at"]
    if ticket.status == Ticket.Status.NEW:
        old = ticket.status
        ticket.status = Ticket.Status.ASSIGNED
        fields.append("status")
        ticket.save(update_fields=fields)
        _record_status(ticket, old, user)
    else:
        ticket.save(update_fields=fields)
    _notify_ticket_assigned(ticket, user)
    return ticket


@transaction.atomic
def ticket_transition(
    *, ticket: Ticket, to_status: str, user: User, note: str = "", resolution: str | None = None
) -> Ticket:
    """Move a ticket along its workflow; refuses moves the workflow does not allow."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if to_status not in ticket.allowed_transitions():
        raise ValidationError(
            _("A ticket cannot go from “%(from)s” to “%(to)s”.")
            % {
                "from": ticket.get_status_display(),
                "to": dict(Ticket.Status.choices).get(to_status, to_status),
            },
            code="illegal_transition",
        )
    if to_status == Ticket.Status.ASSIGNED and not ticket.assignee_id:
        raise ValidationError(_("Choose an assignee first."), code="no_assignee")
    if resolution is not None:
        ticket.resolution = resolution.strip()
    if to_status == Ticket.Status.RESOLVED and not ticket.resolution:
        raise ValidationError(_("Describe the resolution before resolving the ticket."), code="no_resolution")
    old = ticket.status
    now = timezone.now()
    ticket.status = to_status
    if to_status == Ticket.Status.RESOLVED:
        ticket.resolved_at = now
    elif to_status == Ticket.Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif old in Ticket.CLOSED_STATES:  # reopened
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.save()
    _record_status(ticket, old, user, note)
    return ticket


@transaction.atomic
def ticket_comment(*, ticket: Ticket, user: User, body: str, internal: bool) -> TicketComment:
    body = body.strip()
    if not body:
        raise ValidationError({"body": _("Write something first.")})
    comment = TicketComment.objects.create(ticket=ticket, author=user, body=body, internal=internal)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    return comment


@transaction.atomic
def article_from_ticket(*, ticket: Ticket, user: User) -> Article:
    """Turn a resolved ticket into a knowledge-base article (problem + resolution)."""
    if ticket.status not in Ticket.CLOSED_STATES or not ticket.resolution:
        raise ValidationError(
            _("Only a resolved ticket with a resolution can become an article."), code="not_resolved"
        )
    body = f"{ticket.description.strip()}\n\n{_('Resolution')}:\n{ticket.resolution.strip()}".strip()
    return Article.objects.create(
        title=ticket.subject, body=body, category=ticket.category, source_ticket=ticket, created_by=user
    )


# --- the notification job ------------------------------------------------------------------


def send_due_notifications(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Notify about tasks due soon or overdue, reminders that fell due, and tickets whose SLA
    is about to breach or has breached. One notification per record per state: the dedupe
    key holds the due time, so running the job again adds nothing, while a postponed task
    is announced again at its new time. Reads in batches (bounded memory)."""
    now = now or timezone.now()
    counts = {
        "task_due": 0,
        "task_overdue": 0,
        "task_reminder": 0,
        "ticket_sla_warning": 0,
        "ticket_sla_breached": 0,
    }
    soon = now + timedelta(minutes=settings.TASK_DUE_SOON_MINUTES)
    tasks = Task.objects.open().select_related("assignee")
    for task in tasks.filter(due_at__lte=soon).order_by("due_at", "pk").iterator(chunk_size=batch_size):
        overdue = task.due_at < now
        kind = "task_overdue" if overdue else "task_due"
        title = (
            (lambda t=task: _("Overdue: %(title)s") % {"title": t.title})
            if overdue
            else (lambda t=task: _("Due soon: %(title)s") % {"title": t.title})
        )
        _notify(
            task.assignee,
            kind=kind,
            title=title,
            url=_task_url(task),
            dedupe_key=f"task:{task.pk}:{kind}:{task.due_at.isoformat()}",
        )
        counts[kind] += 1
    reminders = tasks.filter(remind_at__isnull=False, remind_at__lte=now, due_at__gt=soon)
    for task in reminders.order_by("remind_at", "pk").iterator(chunk_size=batch_size):
        _notify(
            task.assignee,
            kind="task_reminder",
            title=lambda t=task: _("Reminder: %(title)s") % {"title": t.title},
            url=_task_url(task),
            dedupe_key=f"task:{task.pk}:reminder:{task.remind_at.isoformat()}",
        )
        counts["task_reminder"] += 1
    warning = now + timedelta(minutes=settings.TICKET_SLA_WARNING_MINUTES)
    tickets = (
        Ticket.objects.unresolved().filter(sla_due_at__lte=warning).select_related("assignee", "created_by")
    )
    for ticket in tickets.order_by("sla_due_at", "pk").iterator(chunk_size=batch_size):
        breached = ticket.sla_due_at < now
        kind = "ticket_sla_breached" if breached else "ticket_sla_warning"
        title = (
            (
                lambda t=ticket: (
                    _("SLA breached on ticket #%(number)s: %(subject)s")
                    % {"number": t.pk, "subject": t.subject}
                )
            )
            if breached
            else (
                lambda t=ticket: (
                    _("SLA about to breach on ticket #%(number)s: %(subject)s")
                    % {"number": t.pk, "subject": t.subject}
                )
            )
        )
        # Unassigned tickets alert whoever opened them.
        _notify(
            ticket.assignee or ticket.created_by,
            kind=kind,
            title=title,
            url=_ticket_url(ticket),
            dedupe_key=f"ticket:{ticket.pk}:{kind}:{ticket.sla_due_at.isoformat()}",
        )
        counts[kind] += 1
    return counts
