"""Follow-up escalation (跟进超时): "no follow-up in N days" rules (interactions.FollowUpRule).

Two stages per period without an interaction, run daily by `followup_escalation_run` (Celery
beat and `manage.py followup_escalation`):

1. Reminder: an owned customer with no interaction for the rule's `remind_after_days`
   (counted from the last interaction, else from its creation) gets a follow-up task for its
   owner and a notification in the owner's language; `Customer.followup_reminded_at` is set.
2. Escalation: still no interaction `escalate_after_days` days after the reminder (and
   N + M days after the last contact) → every active manager of the customer's team is told
   (the owner excluded; when that leaves nobody — no team, no manager, or the owner is the only
   manager — the active admins are told instead), the owner is told, the customer is marked
   high-risk (`Customer.followup_escalated_at`) and, when the rule says so, goes back to its
   team's pool through the pool service (a pool event on the timeline).

Each stage writes a FollowUpEvent (the customer timeline shows it). The next interaction that
moves "last contacted" forward clears both marks and completes the open reminder task
(interactions.services.customer_touch), so the next period starts afresh.

Idempotent: each stage claims the customer with a conditional UPDATE (… WHERE the mark is
still empty and the customer still overdue) and acts only if that one row changed; the task's
rule key and the notifications' dedupe keys hold as a second line. Customers without an
owner (in the pool), in the recycle bin, merged away or anonymised are skipped.

Scale: customers are read per rule and stage in primary-key batches (`batch_size`); each
stage's query is served by a partial index on Customer (cust_followup_due_idx for stage 1,
cust_followup_reminded_idx for stage 2), which only holds customers not yet reminded
(resp. reminded and not yet escalated), so a daily run reads the newly due customers, not
every overdue one again. The work per customer is a fixed number of queries.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.models import Role, User
from core.notifications import notify
from customers.models import Customer
from customers.pool import RULE_FOLLOWUP_ESCALATION, pool_customer_return_for_rule
from interactions.models import FollowUpEvent, FollowUpRule, Priority, Task
from interactions.services import task_create_for_rule

JOB_NAME = "followup_escalation"
TASK_RULE = "followup"

# The start of a customer's follow-up clock: its last interaction, else its creation. The
# same expression as the index cust_followup_due_idx, so the planner can use it.
CLOCK = Coalesce("last_contacted_at", "created_at")


def _before(threshold: datetime) -> Q:
    """The clock started before `threshold` (the same as CLOCK < threshold, usable in an UPDATE)."""
    return Q(last_contacted_at__lt=threshold) | Q(last_contacted_at__isnull=True, created_at__lt=threshold)


def _eligible() -> models.QuerySet:
    """Customers the escalation can concern: live, owned, not anonymised."""
    return Customer.objects.active().filter(owner__isnull=False, anonymised_at__isnull=True)


def governed_scopes(rules: list[FollowUpRule]) -> Iterator[tuple[FollowUpRule, Q]]:
    """Each rule (in precedence order) with the customers it governs: those its criteria
    match and no rule before it matches. A rule behind a catch-all rule governs nobody."""
    taken = Q()
    for index, rule in enumerate(rules):
        if any(not earlier.scope_q() for earlier in rules[:index]):
            return
        yield rule, rule.scope_q() & ~taken if taken else rule.scope_q()
        taken |= rule.scope_q()


def rule_for(customer: Customer, rules: list[FollowUpRule] | None = None) -> FollowUpRule | None:
    """The rule that applies to `customer` (the same choice as the job's queries)."""
    rules = FollowUpRule.objects.in_precedence() if rules is None else rules
    return next((rule for rule in rules if rule.matches(customer)), None)


def followup_tasks_close(*, customer_id: int, user: User | None, status: str) -> int:
    """Close the customer's open follow-up reminder tasks (done after an interaction,
    cancelled when the customer left its owner). Served by task_customer_idx."""
    return (
        Task.objects.open()
        .filter(customer_id=customer_id, rule=TASK_RULE)
        .update(status=status, completed_at=timezone.now(), completed_by=user)
    )


def _language(user: User) -> str:
    return user.language or settings.LANGUAGE_CODE


def _date(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d")


def _days(now: datetime, customer: Customer) -> int:
    return (now - (customer.last_contacted_at or customer.created_at)).days


class _Recipients:
    """Active managers per team and the active admins, looked up once per run."""

    def __init__(self) -> None:
        self._managers: dict[int, list[User]] = {}
        self._admins: list[User] | None = None

    def managers(self, team_id: int | None) -> list[User]:
        if team_id is None:
            return []
        if team_id not in self._managers:
            self._managers[team_id] = list(
                User.objects.filter(managed_teams=team_id, is_active=True).order_by("pk")
            )
        return self._managers[team_id]

    def admins(self) -> list[User]:
        if self._admins is None:
            self._admins = list(
                User.objects.filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN), is_active=True)
                .distinct()
                .order_by("pk")
            )
        return self._admins

    def for_escalation(self, customer: Customer) -> list[User]:
        """The team's managers other than the owner; else the admins (other than the owner)."""
        people = [m for m in self.managers(customer.team_id) if m.pk != customer.owner_id]
        return people or [a for a in self.admins() if a.pk != customer.owner_id]


def _batches(queryset: models.QuerySet, batch_size: int) -> Iterator[list[Customer]]:
    """Batches of the due customers: their ids are read in one pass (a streamed, server-side
    cursor on PostgreSQL: one scan of the stage's index however long the backlog, where
    "next 500 after the last id" re-read the whole index for every batch), and each batch is
    loaded again with the stage's conditions, so a customer contacted meanwhile drops out."""
    queryset = queryset.select_related("owner").only(
        "id", "name", "owner", "team_id", "last_contacted_at", "created_at", "followup_reminded_at"
    )
    ids: list[int] = []
    for pk in queryset.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=batch_size):
        ids.append(pk)
        if len(ids) == batch_size:
            yield list(queryset.filter(pk__in=ids).order_by("pk"))
            ids = []
    if ids:
        yield list(queryset.filter(pk__in=ids).order_by("pk"))


def _remind(customer: Customer, rule: FollowUpRule, now: datetime) -> FollowUpEvent | None:
    """Stage 1 for one customer, atomically; None when the customer changed meanwhile."""
    threshold = now - timedelta(days=rule.remind_after_days)
    with transaction.atomic():
        claimed = (
            Customer.objects.active()
            .filter(pk=customer.pk, owner_id=customer.owner_id, followup_reminded_at__isnull=True)
            .filter(_before(threshold))
            .update(followup_reminded_at=now)
        )
        if claimed != 1:
            return None
        owner = customer.owner
        days = _days(now, customer)
        escalate_on = now + timedelta(days=rule.escalate_after_days)
        task = None
        # An inactive owner gets no task (nor notification); the escalation still follows.
        if owner.is_active:
            with translation.override(_language(owner)):
                title = ngettext(
                    "Follow up with %(name)s: no interaction for %(days)d day",
                    "Follow up with %(name)s: no interaction for %(days)d days",
                    days,
                ) % {"name": customer.name, "days": days}
            clock = customer.last_contacted_at or customer.created_at
            task, _created = task_create_for_rule(
                rule=TASK_RULE,
                # Per owner and period: a new owner (a claim from the pool) gets their own task.
                rule_key=f"followup:{customer.pk}:{owner.pk}:{clock:%Y%m%d%H%M%S}",
                assignee=owner,
                title=title[:200],
                due_at=escalate_on,
                customer=customer,
                priority=Priority.HIGH,
                notes=reverse("customers:detail", args=[customer.pk]),
                notify_assignee=False,
            )
        event = FollowUpEvent.objects.create(
            customer=customer,
            rule=rule,
            kind=FollowUpEvent.Kind.REMINDER,
            owner=owner,
            days=days,
            task=task,
            at=now,
        )
        with translation.override(_language(owner)):
            notify(
                recipient=owner,
                kind="followup_reminder",
                title=ngettext(
                    "No follow-up with %(name)s for %(days)d day",
                    "No follow-up with %(name)s for %(days)d days",
                    days,
                )
                % {"name": customer.name, "days": days},
                body=_("Log an interaction by %(date)s, or your manager will be told.")
                % {"date": _date(escalate_on)},
                url=reverse("customers:detail", args=[customer.pk]),
                dedupe_key=f"followup-event:{event.pk}",
            )
    return event


def _escalate(
    customer: Customer, rule: FollowUpRule, now: datetime, recipients: _Recipients
) -> FollowUpEvent | None:
    """Stage 2 for one customer, atomically; None when the customer changed meanwhile."""
    threshold = now - timedelta(days=rule.remind_after_days + rule.escalate_after_days)
    with transaction.atomic():
        claimed = (
            Customer.objects.active()
            .filter(
                pk=customer.pk,
                owner_id=customer.owner_id,
                followup_reminded_at__isnull=False,
                followup_escalated_at__isnull=True,
            )
            .filter(_before(threshold))
            .update(followup_escalated_at=now)
        )
        if claimed != 1:
            return None
        owner = customer.owner
        days = _days(now, customer)
        people = recipients.for_escalation(customer)
        returned = None
        if rule.return_to_pool:
            returned = pool_customer_return_for_rule(
                customer=customer, from_owner_id=owner.pk, rule=RULE_FOLLOWUP_ESCALATION, days=days, now=now
            )
            if returned is not None:
                followup_tasks_close(customer_id=customer.pk, user=None, status=Task.Status.CANCELLED)
        event = FollowUpEvent.objects.create(
            customer=customer,
            rule=rule,
            kind=FollowUpEvent.Kind.ESCALATION,
            owner=owner,
            days=days,
            notified=", ".join(str(p) for p in people)[:500],
            returned_to_pool=returned is not None,
            at=now,
        )
        url = reverse("customers:detail", args=[customer.pk])
        reminded = _date(customer.followup_reminded_at) if customer.followup_reminded_at else ""
        for person in people:
            with translation.override(_language(person)):
                body = _("%(owner)s was reminded on %(date)s. The customer is marked high-risk.") % {
                    "owner": owner,
                    "date": reminded,
                }
                if returned is not None:
                    body += " " + _("It went back to the customer pool.")
                notify(
                    recipient=person,
                    kind="followup_escalated",
                    title=ngettext(
                        "Follow-up overdue: %(name)s, no interaction for %(days)d day",
                        "Follow-up overdue: %(name)s, no interaction for %(days)d days",
                        days,
                    )
                    % {"name": customer.name, "days": days},
                    body=body,
                    url=url,
                    dedupe_key=f"followup-event:{event.pk}",
                )
        with translation.override(_language(owner)):
            body = _("Your manager has been told and the customer is marked high-risk.")
            if returned is not None:
                body += " " + _("It went back to the customer pool.")
            notify(
                recipient=owner,
                kind="followup_escalated",
                title=_("Escalated: no follow-up with %(name)s since the reminder") % {"name": customer.name},
                body=body,
                url=url if returned is None else reverse("customers:pool"),
                dedupe_key=f"followup-event:{event.pk}",
            )
    return event


def followup_escalation_run(
    *, now: datetime | None = None, batch_size: int = 500, dry_run: bool = False
) -> dict[str, int]:
    """Both stages for every active rule. With `dry_run`, counts what is due and changes
    nothing. Returns counts: rules, reminded, escalated, returned (to the pool)."""
    now = now or timezone.now()
    rules = FollowUpRule.objects.in_precedence()
    counts = {"rules": len(rules), "reminded": 0, "escalated": 0, "returned": 0}
    recipients = _Recipients()
    for rule, scope in governed_scopes(rules):
        remind_due = (
            _eligible()
            .filter(scope, followup_reminded_at__isnull=True)
            .alias(followup_clock=CLOCK)
            .filter(followup_clock__lt=now - timedelta(days=rule.remind_after_days))
        )
        escalate_due = (
            _eligible()
            .filter(
                scope,
                followup_reminded_at__isnull=False,
                followup_escalated_at__isnull=True,
                followup_reminded_at__lte=now - timedelta(days=rule.escalate_after_days),
            )
            .alias(followup_clock=CLOCK)
            .filter(
                followup_clock__lt=now - timedelta(days=rule.remind_after_days + rule.escalate_after_days)
            )
        )
        if dry_run:
            counts["escalated"] += escalate_due.count()
            counts["reminded"] += remind_due.count()
            if rule.return_to_pool:
                counts["returned"] += escalate_due.count()
            continue
        # Escalations first: a customer reminded in this run is never escalated in it anyway
        # (escalate_after_days >= 1), and this keeps each stage's batches independent.
        for batch in _batches(escalate_due, batch_size):
            for customer in batch:
                event = _escalate(customer, rule, now, recipients)
                if event is not None:
                    counts["escalated"] += 1
                    counts["returned"] += event.returned_to_pool
        for batch in _batches(remind_due, batch_size):
            for customer in batch:
                counts["reminded"] += _remind(customer, rule, now) is not None
    return counts
