"""The customer pool (公海): claiming, releasing, assigning and the automatic return.

Every change of owner here is a conditional UPDATE (… WHERE owner IS NULL, or WHERE owner is
still the expected rep) whose row count is checked, so two people acting on the same customer
at once cannot both win. Each change writes a PoolEvent (read by the customer timeline, the
per-day claim limit and the no-reclaim period) and a change-history entry.

Which pool: a customer entering the pool goes to the pool of its team, else to the
company-wide default pool (models.pool_for_team). The rules of a pool (limits, automatic
return) apply to the reps and the customers of its teams; the default pool's to everyone
else.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.models import User
from core.notifications import notify
from customers.models import Customer, CustomerPool, CustomerPoolTeam, PoolEvent, pool_for_team
from customers.signals import customers_updated

AUTO_RETURN_JOB_NAME = "pool_auto_return"
# PoolEvent.reason of an automatic return: which rule, and its number of days.
RULE_NO_INTERACTION = "no_interaction"
RULE_NO_DEAL = "no_deal"
# ... and of a return by the follow-up escalation (interactions.escalation).
RULE_FOLLOWUP_ESCALATION = "followup_escalation"
RETURNED_TITLE = gettext_lazy("%(name)s went back to the pool")
WARNING_TITLE = gettext_lazy("%(name)s goes back to the pool on %(date)s unless you follow up")


# --- reads -------------------------------------------------------------------------------


def pool_ids_for_user(user: User) -> list[int]:
    return list(CustomerPool.objects.for_user(user).values_list("pk", flat=True))


def pool_customers_for_user(user: User, pool_ids: list[int] | None = None) -> models.QuerySet:
    """Live customers without an owner in the pools `user` works with (or in `pool_ids`)."""
    if pool_ids is None:
        pool_ids = pool_ids_for_user(user)
    return Customer.objects.in_pool().filter(pool_id__in=pool_ids)


def pool_assignees(user: User) -> models.QuerySet:
    """Whom `user` may assign pool customers to: active members of the teams they manage;
    admins (and whoever sees every customer and may change owners) anyone active."""
    users = User.objects.filter(is_active=True).select_related("team").order_by("team__name", "username")
    if user.is_superuser or user.has_perm("customers.view_all_customers"):
        return users
    return users.filter(team_id__in=user.managed_team_ids)


def held_count(user: User) -> int:
    return Customer.objects.active().filter(owner=user).count()


def _day_start(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def claims_today(user: User, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return PoolEvent.objects.filter(owner=user, kind=PoolEvent.Kind.CLAIM, at__gte=_day_start(now)).count()


def reclaim_blocked_until(
    customer: Customer, user: User, pool: CustomerPool, now: datetime
) -> datetime | None:
    """When `user` may claim `customer` again after it left them (released or returned)."""
    if not pool.reclaim_block_days:
        return None
    left = (
        PoolEvent.objects.filter(
            customer=customer,
            owner=user,
            kind__in=[PoolEvent.Kind.RELEASE, PoolEvent.Kind.AUTO_RETURN],
            at__gte=now - timedelta(days=pool.reclaim_block_days),
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return left + timedelta(days=pool.reclaim_block_days) if left else None


def _date(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d")


# --- writes ------------------------------------------------------------------------------


def _record_history(customer_id: int, user: User | None, reason: str) -> Customer:
    """The customer as it is now, with a change-history entry (the UPDATEs here bypass save())."""
    customer = Customer.objects.get(pk=customer_id)
    Customer.history.bulk_history_create(
        [customer], update=True, default_user=user, default_change_reason=reason
    )
    customers_updated.send(sender=Customer, customer_ids=[customer.pk], user=user)  # webhooks
    return customer


@transaction.atomic
def pool_customer_claim(*, customer: Customer, user: User, now: datetime | None = None) -> Customer:
    """`user` takes a customer out of the pool, within the pool's limits: customers held,
    claims per day, and the no-reclaim period after releasing it. Raises ValidationError
    (translated) and changes nothing when a rule or a concurrent claim stands in the way."""
    now = now or timezone.now()
    # One claim of a rep at a time: two parallel claims cannot both pass the limits.
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
    if customer.owner_id is not None or customer.deleted_at is not None:
        raise ValidationError(
            _("This customer already has an owner: only customers in the pool can be claimed.")
        )
    pool = customer.pool or pool_for_team(customer.team_id)
    if pool.max_held and held_count(user) >= pool.max_held:
        raise ValidationError(
            _("You already hold %(count)d customers, the most this pool allows. Release one first.")
            % {"count": pool.max_held}
        )
    if pool.max_claims_per_day and claims_today(user, now) >= pool.max_claims_per_day:
        raise ValidationError(
            _("You have claimed %(count)d customers today, the most this pool allows per day.")
            % {"count": pool.max_claims_per_day}
        )
    blocked_until = reclaim_blocked_until(customer, user, pool, now)
    if blocked_until is not None:
        raise ValidationError(
            _("You released this customer recently; you may claim it again from %(date)s.")
            % {"date": _date(blocked_until)}
        )
    changed = (
        Customer.objects.in_pool()
        .filter(pk=customer.pk)
        .update(
            owner=user,
            team_id=user.team_id or customer.team_id,
            updated_by=user,
            updated_at=now,
            # A new owner starts a new follow-up period (interactions.escalation).
            followup_reminded_at=None,
            followup_escalated_at=None,
        )
    )
    if changed != 1:
        raise ValidationError(_("Someone else claimed this customer a moment ago."))
    PoolEvent.objects.create(
        customer=customer, pool=pool, kind=PoolEvent.Kind.CLAIM, owner=user, actor=user, at=now
    )
    return _record_history(customer.pk, user, "pool-claim")


def _return_to_pool(
    *, customer: Customer, from_owner_id: int, kind: str, actor: User | None, reason: str, now: datetime
) -> PoolEvent | None:
    """Move the customer to its team's pool if `from_owner_id` still owns it; None if not."""
    pool = pool_for_team(customer.team_id)
    changed = (
        Customer.objects.active()
        .filter(pk=customer.pk, owner_id=from_owner_id)
        .update(owner=None, pool=pool, updated_by=actor, updated_at=now)
    )
    if changed != 1:
        return None
    event = PoolEvent.objects.create(
        customer=customer, pool=pool, kind=kind, owner_id=from_owner_id, actor=actor, reason=reason, at=now
    )
    _record_history(customer.pk, actor, f"pool-{kind.replace('_', '-')}")
    return event


@transaction.atomic
def pool_customer_release(
    *, customer: Customer, user: User, reason: str, now: datetime | None = None
) -> PoolEvent:
    """Return a customer to the pool, with the reason (required). Who may release (the
    owner, their manager, an admin) is the view's decision."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give a reason for releasing the customer to the pool."))
    if customer.owner_id is None:
        raise ValidationError(_("This customer is already in the pool."))
    event = _return_to_pool(
        customer=customer,
        from_owner_id=customer.owner_id,
        kind=PoolEvent.Kind.RELEASE,
        actor=user,
        reason=reason[:500],
        now=now or timezone.now(),
    )
    if event is None:
        raise ValidationError(_("The customer's owner changed a moment ago; nothing was released."))
    return event


@transaction.atomic
def pool_customer_return_for_rule(
    *, customer: Customer, from_owner_id: int, rule: str, days: int, now: datetime | None = None
) -> PoolEvent | None:
    """An automation rule of another app (the follow-up escalation) sends a customer back to
    its team's pool: an AUTO_RETURN pool event whose reason names the rule and its days.
    None, changing nothing, when `from_owner_id` no longer owns the customer."""
    return _return_to_pool(
        customer=customer,
        from_owner_id=from_owner_id,
        kind=PoolEvent.Kind.AUTO_RETURN,
        actor=None,
        reason=f"{rule}:{days}",
        now=now or timezone.now(),
    )


@dataclass
class AssignResult:
    assigned: int
    skipped: int = 0


@transaction.atomic
def pool_customers_assign(
    *, customers: models.QuerySet, owner: User, user: User, now: datetime | None = None
) -> AssignResult:
    """A manager (or admin) gives pool customers to `owner` directly, bypassing the claim
    limits and the no-reclaim period (a deliberate decision). `customers` must already be
    scoped to the pools `user` works with; those that have meanwhile been claimed are
    skipped. `owner` must be someone `pool_assignees(user)` allows."""
    if not pool_assignees(user).filter(pk=owner.pk).exists():
        raise ValidationError(
            _("%(name)s is not in a team you manage: pool customers can only be assigned within your teams.")
            % {"name": owner}
        )
    now = now or timezone.now()
    result = AssignResult(assigned=0)
    for customer in customers.order_by("pk").only("pk", "pool_id", "team_id"):
        changed = (
            Customer.objects.in_pool()
            .filter(pk=customer.pk)
            .update(
                owner=owner,
                team_id=owner.team_id or customer.team_id,
                updated_by=user,
                updated_at=now,
                followup_reminded_at=None,  # a new owner starts a new follow-up period
                followup_escalated_at=None,
            )
        )
        if changed != 1:
            result.skipped += 1
            continue
        PoolEvent.objects.create(
            customer=customer,
            pool_id=customer.pool_id or pool_for_team(customer.team_id).pk,
            kind=PoolEvent.Kind.ASSIGN,
            owner=owner,
            actor=user,
            at=now,
        )
        _record_history(customer.pk, user, "pool-assign")
        result.assigned += 1
    if result.assigned and owner != user:
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            notify(
                recipient=owner,
                kind="pool_assigned",
                title=ngettext(
                    "%(count)d customer assigned to you from the pool",
                    "%(count)d customers assigned to you from the pool",
                    result.assigned,
                )
                % {"count": result.assigned},
                url=reverse("customers:list") + f"?owner={owner.pk}",
            )
    return result


# --- the automatic return ------------------------------------------------------------------


def _pool_scope_q(pool: CustomerPool) -> Q:
    """Customers whose pool rules are this pool's: of its teams; for the default pool, of
    teams without a pool and without a team."""
    if pool.is_default:
        return Q(team__isnull=True) | ~Q(team_id__in=CustomerPoolTeam.objects.values("team_id"))
    return Q(team_id__in=CustomerPoolTeam.objects.filter(pool=pool).values("team_id"))


def _deadlines(pool: CustomerPool, now: datetime):
    """(customer pk, owner id, name, deadline, rule, days) of owned customers of the pool due
    or within the warning period. A rule's clock starts at the latest of: created, claimed or
    assigned, and the last interaction (or purchase)."""
    taken = Subquery(
        PoolEvent.objects.filter(
            customer=OuterRef("pk"), kind__in=[PoolEvent.Kind.CLAIM, PoolEvent.Kind.ASSIGN]
        )
        .order_by("-at")
        .values("at")[:1]
    )
    rules = [
        (RULE_NO_INTERACTION, pool.return_without_interaction_days, "last_contacted_at"),
        (RULE_NO_DEAL, pool.return_without_deal_days, "last_purchase_at"),
    ]
    rules = [r for r in rules if r[1]]
    if not rules:
        return []
    owned = (
        Customer.objects.active()
        .filter(owner__isnull=False, anonymised_at__isnull=True)
        .filter(_pool_scope_q(pool))
        .annotate(taken_at=taken)
    )
    # PostgreSQL's GREATEST skips NULLs: never contacted means "since created or claimed".
    annotations = {
        f"clock_{name}": Greatest(F("created_at"), F("taken_at"), F(field)) for name, _d, field in rules
    }
    owned = owned.annotate(**annotations)
    near = Q()
    for name, days, _field in rules:
        near |= Q(**{f"clock_{name}__lt": now - timedelta(days=days) + timedelta(days=pool.warn_days_before)})
    due = []
    for row in owned.filter(near).values("pk", "owner_id", "name", "team_id", *annotations):
        deadline, rule, rule_days = min(
            (row[f"clock_{name}"] + timedelta(days=days), name, days) for name, days, _f in rules
        )
        due.append((row, deadline, rule, rule_days))
    return due


def rule_text(reason: str) -> str:
    """An automatic return's reason ("no_interaction:30"), in words."""
    rule, _sep, days = reason.partition(":")
    days = int(days) if days.isdigit() else 0
    if rule == RULE_NO_INTERACTION:
        return ngettext("No interaction for %(days)d day", "No interaction for %(days)d days", days) % {
            "days": days
        }
    if rule == RULE_FOLLOWUP_ESCALATION:
        return ngettext(
            "No follow-up for %(days)d day (follow-up escalation)",
            "No follow-up for %(days)d days (follow-up escalation)",
            days,
        ) % {"days": days}
    if rule == RULE_NO_DEAL:
        return ngettext("No purchase for %(days)d day", "No purchase for %(days)d days", days) % {
            "days": days
        }
    return reason


def _last_warnings(customer_ids: list[int]) -> dict[tuple[int, int], datetime]:
    """(customer, owner) → when that owner was last warned of the automatic return."""
    rows = (
        PoolEvent.objects.filter(customer_id__in=customer_ids, kind=PoolEvent.Kind.RETURN_WARNING)
        .values("customer_id", "owner_id")
        .annotate(last=Max("at"))
        .order_by()
    )
    return {(r["customer_id"], r["owner_id"]): r["last"] for r in rows}


def pool_return_due(*, now: datetime | None = None) -> dict[str, int]:
    """The automatic return, for every pool with a rule.

    An owner always gets `warn_days_before` days' notice: a customer within that many days of
    its deadline (or already past it, e.g. when a rule was just switched on) is warned once —
    a RETURN_WARNING pool event and a notification — and goes back to the pool at the first
    run that is past the deadline and at least `warn_days_before` days after the warning.
    A warning from before the current deadline's notice period (the customer was followed up
    since) does not count. Idempotent: a second run finds the warning event (no new warning)
    and the customer without its owner (the return's UPDATE needs the owner unchanged)."""
    now = now or timezone.now()
    counts = {"returned": 0, "warned": 0}
    owners: dict[int, User] = {}
    for pool in CustomerPool.objects.all():
        if not pool.has_return_rule:
            continue
        notice = timedelta(days=pool.warn_days_before)
        due = _deadlines(pool, now)
        warnings = _last_warnings([row["pk"] for row, *_rest in due])
        for row, deadline, rule, days in due:
            if row["owner_id"] not in owners:
                owners[row["owner_id"]] = User.objects.get(pk=row["owner_id"])
            owner = owners[row["owner_id"]]
            customer = Customer(pk=row["pk"], name=row["name"], team_id=row["team_id"])
            warned_at = warnings.get((row["pk"], owner.pk))
            if warned_at is not None and warned_at < deadline - notice:
                warned_at = None  # a warning of an earlier deadline
            noticed = not notice or (warned_at is not None and warned_at <= now - notice)
            if deadline <= now and noticed:
                with transaction.atomic():
                    event = _return_to_pool(
                        customer=customer,
                        from_owner_id=owner.pk,
                        kind=PoolEvent.Kind.AUTO_RETURN,
                        actor=None,
                        reason=f"{rule}:{days}",
                        now=now,
                    )
                    if event is not None:
                        counts["returned"] += 1
                        _notify(owner, "pool_returned", RETURNED_TITLE, customer, event, None)
            elif warned_at is None and notice:
                with transaction.atomic():
                    event = PoolEvent.objects.create(
                        customer=customer,
                        pool=pool,
                        kind=PoolEvent.Kind.RETURN_WARNING,
                        owner=owner,
                        reason=f"{rule}:{days}",
                        at=now,
                    )
                    _notify(
                        owner,
                        "pool_return_warning",
                        WARNING_TITLE,
                        customer,
                        event,
                        max(deadline, now + notice),
                    )
                    counts["warned"] += 1
    return counts


def _notify(owner: User, kind: str, title, customer: Customer, event: PoolEvent, date) -> None:
    """Tell the owner, in their language (`title` is lazily translated)."""
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        names = {"name": customer, "date": _date(date) if date else ""}
        notify(
            recipient=owner,
            kind=kind,
            title=str(title) % names,
            body=rule_text(event.reason),
            url=reverse("customers:detail", args=[customer.pk])
            if kind == "pool_return_warning"
            else reverse("customers:pool"),
            dedupe_key=f"pool-event:{event.pk}",
        )
