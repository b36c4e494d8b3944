"""Customer behaviour analysis (客户行为分析): purchase behaviour per tier, product mix,
interaction channels and ticket response over time, the RFM matrix and staff activity.
Each part is one or two aggregate queries over a Scope, whatever the number of customers."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Avg, Count, DecimalField, DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Substr, TruncWeek
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from interactions.models import Interaction, Task
from reports.scope import Period, Scope, local_date
from reports.selectors import COUNTED_STATUSES, Chart, Point, list_url
from sales.models import OrderLine, PipelineStage

TIERS = Customer.ValueTier
MIX_CATEGORIES = 6
RESPONSE_WEEKS = 8


def _money(value) -> Decimal:
    return (value or Decimal("0")).quantize(Decimal("0.01"))


@dataclass
class TierPurchases:
    tier: str
    label: str
    customers: int  # customers of the tier now
    buyers: int  # of them, bought in the period
    orders: int
    revenue: Decimal
    frequency: float | None  # orders per buyer
    basket: Decimal | None  # revenue per order
    recency: float | None  # average days since the last purchase, of those who ever bought
    customers_url: str = ""
    orders_url: str = ""


def purchases_by_tier(scope: Scope, period: Period) -> list[TierPurchases]:
    orders = {
        r["customer__value_tier"]: r
        for r in scope.orders()
        .counted()
        .filter(period.q("ordered_at"))
        .values("customer__value_tier")
        .annotate(orders=Count("pk"), buyers=Count("customer", distinct=True), revenue=Sum("total"))
    }
    now = timezone.now()
    since_last = ExpressionWrapper(Value(now) - F("last_purchase_at"), output_field=DurationField())
    customers = {
        r["value_tier"]: r
        for r in scope.customers()
        .values("value_tier")
        .annotate(count=Count("pk"), recency=Avg(since_last, filter=Q(last_purchase_at__isnull=False)))
    }
    team = scope.params()
    out = []
    for value, label in TIERS.choices:
        o = orders.get(value, {})
        c = customers.get(value, {})
        n_orders, buyers, revenue = o.get("orders", 0), o.get("buyers", 0), _money(o.get("revenue"))
        recency = c.get("recency")
        out.append(
            TierPurchases(
                value,
                str(label),
                c.get("count", 0),
                buyers,
                n_orders,
                revenue,
                round(n_orders / buyers, 2) if buyers else None,
                _money(revenue / n_orders) if n_orders else None,
                round(recency.total_seconds() / 86400, 1) if recency is not None else None,
                list_url("customers:list", team, value_tier=value),
                list_url(
                    "sales:order_list", team, period.params("ordered"), status=COUNTED_STATUSES, tier=value
                ),
            )
        )
    return out


@dataclass
class ProductMix:
    categories: list[str]
    rows: list[tuple[str, list[float | None]]] = field(default_factory=list)  # tier label, share per category


def product_mix(scope: Scope, period: Period) -> ProductMix:
    """Share of each product category in each tier's purchases in the period (by amount);
    the biggest categories, the rest as "other"."""
    amount = ExpressionWrapper(
        F("quantity") * F("unit_price") * (Value(Decimal("100")) - F("discount")) / Value(Decimal("100")),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    lines = (
        OrderLine.objects.filter(
            order__in=scope.orders().counted().filter(period.q("ordered_at")).values("pk")
        )
        .values("order__customer__value_tier", "product__category")
        .annotate(amount=Sum(amount))
    )
    by_tier: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    overall: dict[str, Decimal] = defaultdict(Decimal)
    uncategorised = str(_("No category"))
    for r in lines:
        category = r["product__category"] or uncategorised
        by_tier[r["order__customer__value_tier"]][category] += r["amount"] or 0
        overall[category] += r["amount"] or 0
    top = [c for c, _a in sorted(overall.items(), key=lambda item: -item[1])[:MIX_CATEGORIES]]
    other = str(_("Other categories"))
    categories = top + ([other] if len(overall) > len(top) else [])
    mix = ProductMix(categories)
    for value, label in TIERS.choices:
        spent = by_tier.get(value, {})
        total = sum(spent.values(), Decimal("0"))
        shares: list[float | None] = []
        for category in categories:
            part = (
                sum((a for c, a in spent.items() if c not in top), Decimal("0"))
                if category == other
                else spent.get(category, Decimal("0"))
            )
            shares.append(round(float(part * 100 / total), 1) if total else None)
        mix.rows.append((str(label), shares))
    return mix


def channels_chart(scope: Scope, period: Period) -> Chart:
    counts = {
        r["channel"]: r["count"]
        for r in scope.interactions()
        .filter(period.q("occurred_at"))
        .values("channel")
        .annotate(count=Count("pk"))
    }
    chart = Chart("channels", _("Interactions by channel"), "bars", _("Interactions"))
    chart.points = [
        Point(
            str(label),
            counts.get(value, 0),
            list_url(
                "interactions:interaction_list", scope.params(), period.params("occurred"), channel=value
            ),
        )
        for value, label in Interaction.Channel.choices
    ]
    return chart


def response_chart(scope: Scope, period: Period) -> Chart:
    """Average hours from opening to resolving, for the tickets resolved each week (the last
    weeks of the period)."""
    window, weeks = period.last_weeks(RESPONSE_WEEKS)
    took = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
    rows = {
        local_date(r["week"]): r
        for r in scope.tickets()
        .filter(window.q("resolved_at"))
        .annotate(week=TruncWeek("resolved_at"))
        .values("week")
        .annotate(count=Count("pk"), took=Avg(took))
    }
    chart = Chart(
        "response",
        _("Ticket resolution time per week"),
        "columns",
        _("Average hours to resolve"),
        note=_("Tickets resolved each week, average hours from opening to resolution."),
    )
    for week, span in weeks:
        row = rows.get(week)
        hours = round(row["took"].total_seconds() / 3600, 1) if row and row["took"] is not None else 0
        chart.points.append(
            Point(
                date_format(week, "MONTH_DAY_FORMAT"),
                hours,
                list_url("interactions:ticket_list", scope.params(), span.params("resolved")),
                short=week.strftime("%m-%d"),
            )
        )
    return chart


@dataclass
class RfmMatrix:
    # rows R 5..1, columns F 1..5: (count, url)
    rows: list[tuple[int, list[tuple[int, str]]]]
    scored: int
    max_count: int


def rfm_matrix(scope: Scope) -> RfmMatrix:
    """Customers by recency score (rows, 5 = bought most recently) and frequency score
    (columns), from the nightly RFM scoring."""
    counts = {
        r["rf"]: r["count"]
        for r in scope.customers()
        .exclude(rfm_score="")
        .annotate(rf=Substr("rfm_score", 1, 2))
        .values("rf")
        .annotate(count=Count("pk"))
    }
    team = scope.params()
    rows = []
    for r in range(5, 0, -1):
        cells = [
            (counts.get(f"{r}{f}", 0), list_url("customers:list", team, rfm=f"{r}{f}")) for f in range(1, 6)
        ]
        rows.append((r, cells))
    return RfmMatrix(rows, sum(counts.values()), max(counts.values(), default=0))


@dataclass
class StaffActivity:
    name: str
    interactions: int
    tasks_done: int
    tasks_overdue: int
    deals_won: int
    won_amount: Decimal
    interactions_url: str
    tasks_url: str
    won_url: str


def staff_activity(scope: Scope, period: Period) -> list[StaffActivity]:
    staff = list(scope.staff().order_by("team__name", "username").select_related("team")[:200])
    ids = [u.pk for u in staff]
    interactions = dict(
        scope.interactions()
        .filter(period.q("occurred_at"), created_by__in=ids)
        .values_list("created_by")
        .annotate(count=Count("pk"))
    )
    now = timezone.now()
    tasks = {
        r["assignee"]: r
        for r in Task.objects.filter(assignee__in=ids)
        .values("assignee")
        .annotate(
            done=Count("pk", filter=Q(status=Task.Status.DONE) & period.q("completed_at")),
            overdue=Count("pk", filter=Q(status=Task.Status.OPEN, due_at__lt=now)),
        )
    }
    won = {
        r["owner"]: r
        for r in scope.opportunities()
        .filter(period.q("closed_at"), stage__kind=PipelineStage.Kind.WON, owner__in=ids)
        .values("owner")
        .annotate(count=Count("pk"), amount=Sum("amount"))
    }
    team = scope.params()
    team_view = scope.user.has_perm("interactions.reassign_task")
    tasks_page = reverse("interactions:team_tasks" if team_view else "interactions:my_tasks")
    out = []
    for user in staff:
        t = tasks.get(user.pk, {})
        w = won.get(user.pk, {})
        row = StaffActivity(
            str(user),
            interactions.get(user.pk, 0),
            t.get("done", 0),
            t.get("overdue", 0),
            w.get("count", 0),
            _money(w.get("amount")),
            list_url("interactions:interaction_list", team, period.params("occurred"), staff=user.pk),
            f"{tasks_page}?assignee={user.pk}" if team_view else tasks_page,
            list_url("sales:opportunity_list", team, period.params("closed"), owner=user.pk, result="won"),
        )
        if row.interactions or row.tasks_done or row.tasks_overdue or row.deals_won:
            out.append(row)
    return out
