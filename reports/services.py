"""The job that keeps the dashboard's pre-computed figures (reports/models.py) current.

`figures_refresh(since=day)` rebuilds the dated figures from `day` on and every snapshot;
`figures_refresh()` rebuilds everything. Each metric is one grouped query over its records
(deleted customers' records included with live=False, as the scoping needs them), and the
rows replace the old ones in one transaction: a page reads either the old figures or the new,
never half of each.
"""

import heapq
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.db import bulk_insert
from customers.models import Customer
from interactions.models import Interaction, Task, Ticket
from reports.models import Figure, FigureRefresh
from reports.scope import Period
from sales.models import Opportunity, Order, PipelineStage

M = Figure.Metric
TOP_CUSTOMERS = 10
BATCH = 5000
_ZERO = Decimal("0")
_LIVE = ExpressionWrapper(Q(customer__deleted_at__isnull=True), output_field=BooleanField())
_NONE = Value(None, output_field=BigIntegerField())


def _from(field: str, since: date | None) -> Q:
    if since is None:
        return Q()
    return Q(**{f"{field}__gte": timezone.make_aware(datetime.combine(since, time.min))})


def _of_customer(
    qs: QuerySet, *, record_owner: str | None = None, record_team: str | None = None
) -> QuerySet:
    """Annotate a record's customer's team and owner, whether the customer is live, and the
    record's own owner and team."""
    return qs.annotate(
        f_team=F("customer__team_id"),
        f_owner=F("customer__owner_id"),
        f_live=_LIVE,
        f_record_owner=F(record_owner) if record_owner else _NONE,
        f_record_team=F(record_team) if record_team else _NONE,
    )


def _queries(since: date | None, now: datetime) -> Iterator[tuple[str, QuerySet]]:
    """(metric, grouped queryset) pairs; each queryset yields f_<field> and f_<measure> keys."""
    customers = Customer.objects.active().annotate(f_team=F("team_id"), f_owner=F("owner_id"))
    yield (
        M.NEW_CUSTOMERS,
        customers.filter(_from("created_at", since))
        .annotate(f_day=TruncDate("created_at"))
        .values("f_day", "f_team", "f_owner")
        .annotate(f_count=Count("pk")),
    )

    orders = _of_customer(Order.objects.counted(), record_owner="owner_id")
    yield (
        M.REVENUE,
        orders.filter(_from("ordered_at", since))
        .annotate(f_day=TruncDate("ordered_at"))
        .values("f_day", "f_team", "f_owner", "f_live", "f_record_owner")
        .annotate(f_count=Count("pk"), f_amount=Sum("total")),
    )

    deals = _of_customer(Opportunity.objects.all(), record_owner="owner_id", record_team="team_id")
    closed = deals.filter(_from("closed_at", since), closed_at__isnull=False).annotate(
        f_day=TruncDate("closed_at")
    )
    grouping = ("f_day", "f_team", "f_owner", "f_live", "f_record_owner", "f_record_team")
    cycle = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())
    yield (
        M.WON,
        closed.filter(stage__kind=PipelineStage.Kind.WON)
        .values(*grouping)
        .annotate(f_count=Count("pk"), f_duration=Sum(cycle)),
    )
    yield (
        M.LOST,
        closed.filter(stage__kind=PipelineStage.Kind.LOST).values(*grouping).annotate(f_count=Count("pk")),
    )

    tickets = _of_customer(Ticket.objects.all(), record_owner="assignee_id")
    yield (
        M.TICKETS,
        tickets.filter(_from("created_at", since))
        .annotate(f_day=TruncDate("created_at"), f_dim=F("category"))
        .values("f_day", "f_team", "f_owner", "f_live", "f_record_owner", "f_dim")
        .annotate(f_count=Count("pk")),
    )

    interactions = _of_customer(Interaction.objects.all(), record_owner="created_by_id")
    yield (
        M.INTERACTIONS,
        interactions.filter(_from("occurred_at", since))
        .annotate(f_day=TruncDate("occurred_at"))
        .values("f_day", "f_team", "f_owner", "f_live", "f_record_owner")
        .annotate(f_count=Count("pk")),
    )

    # Snapshots: the state at the refresh.
    yield (
        M.CUSTOMERS,
        customers.annotate(f_dim=F("lifecycle_stage"), f_dim2=F("value_tier"))
        .values("f_team", "f_owner", "f_dim", "f_dim2")
        .annotate(f_count=Count("pk")),
    )
    yield (
        M.CHURN,
        customers.filter(churn_flagged_at__isnull=False)
        .values("f_team", "f_owner")
        .annotate(f_count=Count("pk")),
    )
    pipeline = deals.filter(stage__kind=PipelineStage.Kind.OPEN, currency=Opportunity.Currency.CNY)
    money = DecimalField(max_digits=24, decimal_places=2)
    yield (
        M.PIPELINE,
        pipeline.annotate(f_dim=F("stage_id"))
        .values("f_team", "f_owner", "f_live", "f_record_owner", "f_record_team", "f_dim")
        .annotate(
            f_count=Count("pk"),
            f_amount=Sum("amount"),
            f_weighted=Sum(ExpressionWrapper(F("amount") * F("probability"), output_field=money)),
        ),
    )
    breached = Case(When(sla_due_at__lt=now, then=Value("breached")), default=Value(""))
    yield (
        M.OPEN_TICKETS,
        tickets.unresolved()
        .annotate(f_dim=breached)
        .values("f_team", "f_owner", "f_live", "f_record_owner", "f_dim")
        .annotate(f_count=Count("pk")),
    )
    overdue = Task.objects.open().filter(due_at__lt=now, assignee__isnull=False)
    yield (
        M.OVERDUE_TASKS,
        overdue.annotate(f_record_owner=F("assignee_id"))
        .values("f_record_owner")
        .annotate(f_count=Count("pk")),
    )


def _period_figures(period: Period, previous: Period) -> Iterator[Figure]:
    """Active customers (distinct, so not a sum of days) of the default period and the one
    before, and the top customers by spend of the default period: per customer team and owner.
    A customer belongs to one team-and-owner partition, so summing partitions is exact, and
    the top customers of several partitions are among the partitions' own top customers."""
    for window in (period, previous):
        rows = (
            Interaction.objects.filter(window.q("occurred_at"), customer__deleted_at__isnull=True)
            .values("customer__team_id", "customer__owner_id")
            .annotate(n=Count("customer", distinct=True))
            .order_by()
        )
        for row in rows:
            yield Figure(
                metric=M.CONTACTED,
                day=window.start,
                team_id=row["customer__team_id"],
                owner_id=row["customer__owner_id"],
                count=row["n"],
            )
    spend = (
        Order.objects.counted()
        .filter(period.q("ordered_at"), customer__deleted_at__isnull=True)
        .values("customer_id", "customer__team_id", "customer__owner_id")
        .annotate(amount=Sum("total"), n=Count("pk"))
        .order_by()
    )
    tops: dict[tuple, list] = defaultdict(list)
    for row in spend.iterator(chunk_size=BATCH):
        top = tops[(row["customer__team_id"], row["customer__owner_id"])]
        # (amount, -id): ties go to the older customer, as the chart's ORDER BY.
        item = (row["amount"], -row["customer_id"], row["n"])
        if len(top) < TOP_CUSTOMERS:
            heapq.heappush(top, item)
        elif item > top[0]:
            heapq.heapreplace(top, item)
    for (team_id, owner_id), top in tops.items():
        for amount, negative_id, n in top:
            yield Figure(
                metric=M.TOP_CUSTOMERS,
                day=period.start,
                team_id=team_id,
                owner_id=owner_id,
                dim=str(-negative_id),
                count=n,
                amount=amount,
            )


def _figures(metric: str, rows) -> Iterator[Figure]:
    for row in rows:
        duration = row.get("f_duration")
        yield Figure(
            metric=metric,
            day=row.get("f_day"),
            team_id=row.get("f_team"),
            owner_id=row.get("f_owner"),
            live=row.get("f_live", True),
            record_owner_id=row.get("f_record_owner"),
            record_team_id=row.get("f_record_team"),
            dim=str(row.get("f_dim") or ""),
            dim2=str(row.get("f_dim2") or ""),
            count=row["f_count"],
            amount=row.get("f_amount") or _ZERO,
            weighted=row.get("f_weighted") or _ZERO,
            seconds=int(duration.total_seconds()) if duration else 0,
        )


def _chunks(objects: Iterator[Figure]) -> Iterator[list[Figure]]:
    batch: list[Figure] = []
    for obj in objects:
        batch.append(obj)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@transaction.atomic
def figures_refresh(*, since: date | None = None, now: datetime | None = None) -> dict[str, int]:
    """Rebuild the figures of the days from `since` on (all days when None) and the snapshots.
    Idempotent: the same records give the same rows."""
    started = timezone.now()
    now = now or started
    # Snapshots and per-period figures are rebuilt every time.
    stale = Figure.objects.filter(Q(day__isnull=True) | Q(metric__in=[M.CONTACTED, M.TOP_CUSTOMERS]))
    stale = stale | (
        Figure.objects.filter(day__gte=since) if since else Figure.objects.filter(day__isnull=False)
    )
    stale.delete()
    counts: dict[str, int] = {}
    for metric, qs in _queries(since, now):
        counts[metric] = _write(_figures(metric, qs.order_by().iterator(chunk_size=BATCH)))
    period = Period.default(timezone.localtime(now).date())
    previous = period.previous()
    counts["period"] = _write(_period_figures(period, previous))
    FigureRefresh.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        since=since,
        rows=sum(counts.values()),
        period_start=period.start,
        period_end=period.end,
    )
    return counts


def _write(figures: Iterator[Figure]) -> int:
    written = 0
    for batch in _chunks(figures):
        bulk_insert(Figure, batch)
        written += len(batch)
    return written


def last_refresh() -> FigureRefresh | None:
    return FigureRefresh.objects.order_by("-finished_at").first()


def figures_refresh_due(*, full: bool = False) -> dict[str, int]:
    """What the beat job runs: everything when asked or when nothing was ever computed, else
    the days from yesterday on (an interaction logged just after midnight for the day before
    is picked up)."""
    if full or not FigureRefresh.objects.exists():
        return figures_refresh()
    return figures_refresh(since=timezone.localdate() - timedelta(days=1))
