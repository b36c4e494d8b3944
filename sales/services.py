"""Writes on orders and opportunities, and the sales automation rules. Every entry point
(forms, import, API, jobs) calls these, so statistics and rules cannot drift."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.db import update_rows
from core.models import Role, User
from core.notifications import notify
from customers.models import Customer
from interactions.models import Interaction, Task
from interactions.services import task_create_for_rule
from sales.models import (
    LeadAssignmentRule,
    Opportunity,
    OpportunityStageChange,
    Order,
    OrderLine,
    PipelineStage,
    Product,
    StaleOpportunityRule,
    money,
)
from sales.signals import opportunity_won, order_created

# A churned customer who paid for an order within this many days is back.
WIN_BACK_DAYS = 30

# --- purchase statistics and lifecycle ---------------------------------------------------------


def customer_refresh_purchase_stats(*, customer_id: int) -> Customer:
    """Recompute first/last purchase, order count and total spend from the orders, move
    the lifecycle stage on purchases, and clear a churn warning raised before a purchase.

    Runs inside the caller's transaction and locks the customer row first, so two orders
    saved for one customer at the same moment are counted one after the other: the second
    transaction's aggregate starts after the first committed and sees its order.
    """
    customers = customers_refresh_purchase_stats(customer_ids=[customer_id])
    if customer_id not in customers:
        raise Customer.DoesNotExist(customer_id)
    return customers[customer_id]


# What customers_refresh_purchase_stats() reads and writes on a customer.
_PURCHASE_FIELDS = (
    "order_count",
    "total_spend",
    "first_purchase_at",
    "last_purchase_at",
    "lifecycle_stage",
    "lifecycle_stage_manual",
    "churn_flagged_at",
    "churn_risk_score",
    "churn_risk_reason",
)
_NO_ORDERS = {
    "count": 0,
    "spend": None,
    "first": None,
    "last": None,
    "purchases": 0,
    "first_purchase": None,
    "last_purchase": None,
}


def customers_refresh_purchase_stats(*, customer_ids: Iterable[int]) -> dict[int, Customer]:
    """customer_refresh_purchase_stats() for many customers at once, with the same rules and a
    fixed number of queries (an import refreshes every customer of a batch this way).

    Locks the customers in id order, then aggregates their orders in one grouped query; two
    callers touching the same customers wait for each other rather than deadlock. Returns
    the customers (only the purchase fields loaded) by id.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    customers = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update()
        .filter(pk__in=ids)
        .only(*_PURCHASE_FIELDS)
        .order_by("pk")
    }
    rows = (
        Order.objects.filter(customer_id__in=ids)
        .counted()
        .values("customer_id")
        .annotate(
            count=Count("pk"),
            spend=Sum("total"),
            first=Min("ordered_at"),
            last=Max("ordered_at"),
            purchases=Count("pk", filter=Q(status__in=Order.PURCHASED)),
            first_purchase=Min("ordered_at", filter=Q(status__in=Order.PURCHASED)),
            last_purchase=Max("ordered_at", filter=Q(status__in=Order.PURCHASED)),
        )
        .order_by()
    )
    stats_by_customer = {row["customer_id"]: row for row in rows}
    changed: list[Customer] = []
    won_back: list[int] = []
    for customer_id, customer in customers.items():
        before = [getattr(customer, name) for name in _PURCHASE_FIELDS]
        if _apply_purchase_stats(customer, stats_by_customer.get(customer_id, _NO_ORDERS)):
            won_back.append(customer_id)
        if [getattr(customer, name) for name in _PURCHASE_FIELDS] != before:
            changed.append(customer)
    # Not save(): derived figures, no history row for each order.
    update_rows(Customer, changed, [name for name in _PURCHASE_FIELDS if name != "lifecycle_stage_manual"])
    if won_back:
        # The win-back task has done its job.
        Task.objects.open().filter(customer_id__in=won_back, rule="churn_win_back").update(
            status=Task.Status.DONE, completed_at=timezone.now()
        )
    return customers


def _apply_purchase_stats(customer: Customer, stats: dict[str, Any]) -> bool:
    """Set the purchase figures and lifecycle stage from the aggregate of the customer's
    counted orders. True when a churn warning ended (the customer bought again)."""
    customer.order_count = stats["count"]
    customer.total_spend = money(stats["spend"] or Decimal("0"))
    customer.first_purchase_at = stats["first"]
    customer.last_purchase_at = stats["last"]
    customer.lifecycle_stage = _lifecycle_after_purchases(
        customer, stats["purchases"], stats["first_purchase"], stats["last_purchase"]
    )
    if (
        customer.churn_flagged_at is not None
        and stats["last_purchase"] is not None
        and stats["last_purchase"] >= customer.churn_flagged_at
    ):
        # Buying again ends the churn warning at once; the nightly job (sales.churn) scores
        # the customer afresh. A purchase entered late with an earlier date waits for it.
        customer.churn_flagged_at, customer.churn_risk_score, customer.churn_risk_reason = None, 0, ""
        return True
    return False


def _lifecycle_after_purchases(
    customer: Customer, purchases: int, first_purchase: datetime | None, last_purchase: datetime | None
) -> str:
    """Prospect → new on the first paid order; new → existing on the second, or once the
    first purchase is CUSTOMER_EXISTING_AFTER_DAYS old; churned → existing when they pay
    for an order again (within the last WIN_BACK_DAYS). Pending orders are not purchases.
    A stage set by hand stays; the moves never go backwards."""
    S = Customer.LifecycleStage
    stage = customer.lifecycle_stage
    if customer.lifecycle_stage_manual or purchases == 0:
        return stage
    now = timezone.now()
    long_enough = first_purchase is not None and first_purchase <= now - timedelta(
        days=settings.CUSTOMER_EXISTING_AFTER_DAYS
    )
    if stage == S.PROSPECT:
        stage = S.NEW
    if stage == S.NEW and (purchases >= 2 or long_enough):
        stage = S.EXISTING
    if (
        stage == S.CHURNED
        and last_purchase is not None
        and last_purchase >= now - timedelta(days=WIN_BACK_DAYS)
    ):
        stage = S.EXISTING
    return stage


# --- orders ----------------------------------------------------------------------------------


@dataclass
class LineData:
    product: Product
    quantity: Decimal
    unit_price: Decimal | None = None
    discount: Decimal = Decimal("0")


def _save_lines(order: Order, lines: list[LineData]) -> Decimal:
    if not lines:
        raise ValidationError(_("An order needs at least one line."), code="no_lines")
    order.lines.all().delete()
    objs = []
    for line in lines:
        obj = OrderLine(
            order=order,
            product=line.product,
            quantity=line.quantity,
            unit_price=line.product.unit_price if line.unit_price is None else line.unit_price,
            discount=line.discount or Decimal("0"),
        )
        obj.full_clean(exclude=["order"])
        objs.append(obj)
    OrderLine.objects.bulk_create(objs)
    return money(sum((o.line_total for o in objs), Decimal("0")))


@transaction.atomic
def order_create(
    *, user: User | None, data: dict[str, Any], lines: list[LineData], opportunity: Opportunity | None = None
) -> Order:
    """Record an order with its lines; totals in Decimal; the customer's statistics follow."""
    order = Order(created_by=user, **data)
    if not order.owner_id:
        order.owner = order.customer.owner or user
    # A unique placeholder until the id is known (the number is made from it).
    order.number = f"tmp-{uuid.uuid4().hex[:24]}"
    order.full_clean(exclude=["number"])
    order.save()
    order.number = f"SO{timezone.localtime(order.ordered_at):%Y%m}{order.pk:07d}"
    order.total = _save_lines(order, lines)
    order.save(update_fields=["number", "total"])
    if opportunity is not None:
        Opportunity.objects.filter(pk=opportunity.pk).update(order=order)
    customer_refresh_purchase_stats(customer_id=order.customer_id)
    order_created.send(sender=Order, order=order, user=user)
    return order


@transaction.atomic
def order_update(
    *, order: Order, user: User, data: dict[str, Any], lines: list[LineData] | None = None
) -> Order:
    old_customer_id = Order.objects.filter(pk=order.pk).values_list("customer_id", flat=True).get()
    for field, value in data.items():
        setattr(order, field, value)
    order.full_clean()
    if lines is not None:
        order.total = _save_lines(order, lines)
    order.save()
    for customer_id in {old_customer_id, order.customer_id}:
        customer_refresh_purchase_stats(customer_id=customer_id)
    return order


@transaction.atomic
def order_set_status(*, order: Order, user: User, status: str) -> Order:
    """Pay, ship, complete, cancel or refund; statistics follow."""
    if status not in Order.Status.values:
        raise ValidationError(_("Unknown order status."), code="status")
    if order.status in (Order.Status.CANCELLED, Order.Status.REFUNDED) and status != order.status:
        raise ValidationError(_("A cancelled or refunded order cannot change any more."), code="final")
    order.status = status
    order.save(update_fields=["status", "updated_at"])
    customer_refresh_purchase_stats(customer_id=order.customer_id)
    return order


# --- opportunities ---------------------------------------------------------------------------


def first_stage() -> PipelineStage:
    return (
        PipelineStage.objects.filter(active=True, kind=PipelineStage.Kind.OPEN)
        .order_by("order", "pk")
        .first()
    )


@transaction.atomic
def opportunity_create(*, user: User, data: dict[str, Any]) -> Opportunity:
    opportunity = Opportunity(created_by=user, **data)
    if not opportunity.stage_id:
        opportunity.stage = first_stage()
    if not opportunity.stage.active:
        raise ValidationError({"stage": _("This stage is no longer in use.")})
    if data.get("probability") is None:
        opportunity.probability = opportunity.stage.default_probability
    if opportunity.stage.kind == PipelineStage.Kind.LOST and not opportunity.lost_reason:
        raise ValidationError({"lost_reason": _("Say why the opportunity was lost.")})
    if not opportunity.owner_id:
        opportunity.owner = opportunity.customer.owner or user
    opportunity.team = opportunity.owner.team
    now = timezone.now()
    opportunity.stage_entered_at = opportunity.last_activity_at = opportunity.created_at = now
    if opportunity.stage.is_closed:
        opportunity.closed_at = now
    opportunity.full_clean()
    opportunity.save()
    change = OpportunityStageChange.objects.create(
        opportunity=opportunity, from_stage=None, to_stage=opportunity.stage, changed_by=user, changed_at=now
    )
    _stage_entered(opportunity, change)
    if opportunity.stage.kind == PipelineStage.Kind.WON:
        opportunity_won.send(sender=Opportunity, opportunity=opportunity, user=user)
    return opportunity


@transaction.atomic
def opportunity_update(*, opportunity: Opportunity, user: User, data: dict[str, Any]) -> Opportunity:
    """Edit the fields; a stage change goes through opportunity_move()."""
    new_stage = data.pop("stage", None)
    for field, value in data.items():
        setattr(opportunity, field, value)
    opportunity.team = opportunity.owner.team
    opportunity.last_activity_at = timezone.now()
    opportunity.full_clean()
    opportunity.save()
    if new_stage is not None and new_stage.pk != opportunity.stage_id:
        opportunity = opportunity_move(opportunity=opportunity, stage=new_stage, user=user)
    return opportunity


@transaction.atomic
def opportunity_move(
    *, opportunity: Opportunity, stage: PipelineStage, user: User | None, lost_reason: str = ""
) -> Opportunity:
    """Move to another stage: history with the time spent, probability from the stage,
    closing date for won/lost, and the stage's follow-up task (once)."""
    opportunity = (
        Opportunity.objects.select_for_update().select_related("stage", "owner").get(pk=opportunity.pk)
    )
    if stage.pk == opportunity.stage_id:
        return opportunity
    if not stage.active:
        raise ValidationError(_("This stage is no longer in use."), code="inactive_stage")
    if stage.kind == PipelineStage.Kind.LOST and not (lost_reason or opportunity.lost_reason):
        raise ValidationError(_("Say why the opportunity was lost."), code="lost_reason")
    now = timezone.now()
    change = OpportunityStageChange.objects.create(
        opportunity=opportunity,
        from_stage=opportunity.stage,
        to_stage=stage,
        changed_by=user,
        changed_at=now,
        seconds_in_previous=max(0, int((now - opportunity.stage_entered_at).total_seconds())),
    )
    opportunity.stage = stage
    opportunity.probability = stage.default_probability
    opportunity.stage_entered_at = now
    opportunity.last_activity_at = now
    opportunity.closed_at = now if stage.is_closed else None
    if lost_reason:
        opportunity.lost_reason = lost_reason
    opportunity.save(
        update_fields=[
            "stage",
            "probability",
            "stage_entered_at",
            "last_activity_at",
            "closed_at",
            "lost_reason",
            "updated_at",
        ]
    )
    _stage_entered(opportunity, change)
    if stage.kind == PipelineStage.Kind.WON:
        opportunity_won.send(sender=Opportunity, opportunity=opportunity, user=user)
    if stage.is_closed:
        # Won or lost: the automatic follow-ups of the earlier stages have no object any more.
        Task.objects.filter(
            subject_type=ContentType.objects.get_for_model(Opportunity),
            subject_id=opportunity.pk,
            status=Task.Status.OPEN,
            origin=Task.Origin.AUTOMATIC,
        ).update(status=Task.Status.CANCELLED, completed_at=now, completed_by=user)
    return opportunity


def _stage_entered(opportunity: Opportunity, change: OpportunityStageChange) -> None:
    """Rule: entering a stage with follow-up days creates a task for the owner, once per entry."""
    stage = change.to_stage
    if stage.follow_up_days is None or stage.is_closed:
        return
    # The task title in the owner's language.
    with translation.override(opportunity.owner.language or settings.LANGUAGE_CODE):
        if stage.follow_up_title:
            title = f"{stage.follow_up_title} · {opportunity.title}"
        else:
            title = _("Follow up: %(title)s") % {"title": opportunity.title}
    task_create_for_rule(
        rule=f"stage_entered:{stage.pk}",
        rule_key=f"stage-entered:{change.pk}",
        assignee=opportunity.owner,
        title=title[:200],
        due_at=change.changed_at + timedelta(days=stage.follow_up_days),
        customer=opportunity.customer,
        subject=opportunity,
    )


def stale_opportunity_reminders(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Rule: an open opportunity with no interaction with its customer and no stage change or
    edit for N days gets a reminder task for its owner, once per quiet spell (the key holds
    the time of the last activity). Idempotent, batched."""
    now = now or timezone.now()
    last_interaction = (
        Interaction.objects.filter(customer_id=OuterRef("customer_id"))
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    created = 0
    for rule in StaleOpportunityRule.objects.filter(active=True):
        limit = now - timedelta(days=rule.days)
        stale = (
            Opportunity.objects.open()
            .filter(last_activity_at__lt=limit)
            .annotate(last_interaction=Subquery(last_interaction))
            .filter(Q(last_interaction__isnull=True) | Q(last_interaction__lt=limit))
            .select_related("owner", "customer")
        )
        for opportunity in stale.order_by("pk").iterator(chunk_size=batch_size):
            quiet_since = max(filter(None, [opportunity.last_activity_at, opportunity.last_interaction]))
            with translation.override(opportunity.owner.language or settings.LANGUAGE_CODE):
                title = rule.task_title or _("No progress for %(days)d days") % {"days": rule.days}
            _task, made = task_create_for_rule(
                rule=f"stale_opportunity:{rule.pk}",
                rule_key=f"stale:{rule.pk}:{opportunity.pk}:{quiet_since:%Y%m%d%H%M%S}",
                assignee=opportunity.owner,
                title=f"{title} · {opportunity.title}"[:200],
                due_at=now + timedelta(days=rule.due_in_days),
                customer=opportunity.customer,
                subject=opportunity,
            )
            created += made
    return created


# --- lead assignment -------------------------------------------------------------------------


def _active_reps(team_id: int) -> list[User]:
    return list(
        User.objects.filter(team_id=team_id, is_active=True, groups__name=Role.SALES_REP)
        .order_by("pk")
        .distinct()
    )


@transaction.atomic
def lead_assign(*, customer: Customer) -> User | None:
    """Give a new lead (a prospect without owner) to the next rep of the first matching rule.

    The rule row is locked while choosing, so concurrent leads go round the team in turn.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if (
        customer.owner_id
        or customer.lifecycle_stage != Customer.LifecycleStage.PROSPECT
        or customer.deleted_at
    ):
        return None
    for rule in LeadAssignmentRule.objects.select_for_update().filter(active=True).order_by("order", "pk"):
        if not rule.matches(customer):
            continue
        reps = _active_reps(rule.team_id)
        if not reps:
            continue
        ids = [r.pk for r in reps]
        position = ids.index(rule.last_assignee_id) + 1 if rule.last_assignee_id in ids else 0
        rep = reps[position % len(reps)]
        rule.last_assignee = rep
        rule.save(update_fields=["last_assignee"])
        Customer.objects.filter(pk=customer.pk).update(owner=rep, team=rep.team, updated_at=timezone.now())
        with translation.override(rep.language or settings.LANGUAGE_CODE):
            title = _("New lead for you: %(name)s") % {"name": customer.name}
        transaction.on_commit(
            lambda rep=rep, title=title: notify(
                recipient=rep,
                kind="lead_assigned",
                title=title,
                url=reverse("customers:detail", args=[customer.pk]),
                dedupe_key=f"lead:{customer.pk}:{rep.pk}",
            )
        )
        return rep
    return None


def leads_assign_unowned(*, since: datetime, batch_size: int = 500) -> int:
    """Assign every unowned prospect created since `since` (a backlog, or after an import)."""
    assigned = 0
    qs = Customer.objects.active().filter(
        owner__isnull=True, lifecycle_stage=Customer.LifecycleStage.PROSPECT, created_at__gte=since
    )
    for customer in qs.order_by("pk").iterator(chunk_size=batch_size):
        assigned += lead_assign(customer=customer) is not None
    return assigned
