"""The dashboard's figures and charts, each with the list page that shows the records behind it.

Every figure is one aggregate query over a Scope (reports/scope.py), so a figure equals the
count of the list page its link opens with the same filters. Queries: customers (1),
contacted customers (1), orders (1), open pipeline (1), closed deals (1), tickets (1),
overdue tasks (1), and one per chart.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from core.models import User
from customers.models import Customer
from interactions.models import Ticket
from reports.models import Figure as DailyFigure
from reports.models import FigureRefresh
from reports.scope import Period, Scope, local_date
from sales.models import Opportunity, Order, PipelineStage

HOME_CURRENCY = Opportunity.Currency.CNY
CHART_MONTHS = 12
CHART_WEEKS = 8
TOP_CUSTOMERS = 10
MAX_REPS = 20
COUNTED_STATUSES = [s for s in Order.Status.values if s not in Order.EXCLUDED_FROM_STATS]


def list_url(name: str, *param_dicts: dict, **params) -> str:
    query: list[tuple[str, str]] = []
    for d in (*param_dicts, params):
        for key, value in d.items():
            if isinstance(value, list | tuple):
                query.extend((key, str(v)) for v in value)
            elif value not in (None, ""):
                query.append((key, str(value)))
    return f"{reverse(name)}?{urlencode(query)}" if query else reverse(name)


@dataclass
class Figure:
    key: str
    label: str
    value: int | Decimal | float | None
    url: str
    kind: str = "count"  # count | money | percent | days
    previous: int | Decimal | float | None = None
    compared: bool = False  # False: a figure of now, with nothing to compare
    help: str = ""

    @property
    def change(self) -> float | None:
        """Relative change against the previous period, in percent (None when undefined)."""
        if not self.compared or self.value is None or not self.previous:
            return None
        return float(
            (Decimal(str(self.value)) - Decimal(str(self.previous))) / Decimal(str(self.previous)) * 100
        )

    @property
    def direction(self) -> str:
        if not self.compared or self.value is None or self.previous is None:
            return ""
        if self.value > self.previous:
            return "up"
        if self.value < self.previous:
            return "down"
        return "same"


@dataclass
class Point:
    label: str
    value: int | Decimal
    url: str
    series: str = ""  # stacked charts: the segment's series
    short: str = ""  # axis label where the label is long (months)


@dataclass
class Chart:
    key: str
    title: str
    kind: str  # columns | bars | stacked
    value_label: str
    money: bool = False
    points: list[Point] = field(default_factory=list)
    series: list[str] = field(default_factory=list)  # stacked: series in legend order
    note: str = ""

    @property
    def total(self):
        return sum((p.value for p in self.points), 0)

    def table(self) -> tuple[list[str], list[list]]:
        """The chart as a table (the table view and the .xlsx export)."""
        if self.kind != "stacked":
            return [str(_("Label")), str(self.value_label)], [[p.label, p.value] for p in self.points]
        rows: dict[str, dict[str, int]] = defaultdict(dict)
        for p in self.points:
            rows[p.label][p.series] = p.value
        header = [str(_("Staff")), *self.series, str(_("Total"))]
        body = [
            [label, *(cells.get(s, 0) for s in self.series), sum(cells.values())]
            for label, cells in rows.items()
        ]
        return header, body


# --- key figures ---------------------------------------------------------------------------


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _days(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds() / 86400, 1) if duration is not None else None


def _now_and_before(qs, period: Period, prev: Period, **measures: str) -> dict:
    """Sums of pre-computed daily figures over the period and the one before: for each
    measure name → figure field, `name` and `name_prev` (0 where there are none)."""
    sums = qs.filter(Period(prev.start, period.end).day_q()).aggregate(
        # (prefixed: an aggregate may not be named like a field)
        **{f"s_{name}": Sum(field, filter=period.day_q()) for name, field in measures.items()},
        **{f"s_{name}_prev": Sum(field, filter=prev.day_q()) for name, field in measures.items()},
    )
    return {name.removeprefix("s_"): value or 0 for name, value in sums.items()}


def _seconds_per(seconds: int, count: int) -> timedelta | None:
    return timedelta(seconds=seconds / count) if count else None


# "Read the latest refresh": the default of the `refreshed` arguments below, for callers that
# have not read it already (the dashboard view has, and passes it on).
LATEST = object()


def _counted_for_period(period: Period, refreshed=LATEST) -> bool:
    """Whether the latest refresh counted the per-period figures (active customers, top
    customers) for this period: the default one, which most visits ask for."""
    if refreshed is LATEST:
        refreshed = FigureRefresh.objects.order_by("-finished_at").only("period_start", "period_end").first()
    return refreshed is not None and (refreshed.period_start, refreshed.period_end) == (
        period.start,
        period.end,
    )


def _contacted(scope: Scope, period: Period, prev: Period, refreshed=LATEST) -> dict[str, int]:
    """Customers with an interaction in the period and in the one before (distinct: not a
    sum of days)."""
    if _counted_for_period(period, refreshed):
        rows = scope.figures(DailyFigure.Metric.CONTACTED).filter(day__in=[period.start, prev.start])
        sums = rows.aggregate(
            now=Coalesce(Sum("count", filter=Q(day=period.start)), 0),
            prev=Coalesce(Sum("count", filter=Q(day=prev.start)), 0),
        )
        return sums
    return (
        scope.interactions()
        .filter(Period(prev.start, period.end).q("occurred_at"))
        .aggregate(
            now=Count("customer", distinct=True, filter=period.q("occurred_at")),
            prev=Count("customer", distinct=True, filter=prev.q("occurred_at")),
        )
    )


def key_figures(scope: Scope, period: Period, *, refreshed=LATEST) -> dict[str, Figure]:
    """Dated figures from the pre-computed days and "now" figures from the latest snapshot
    (reports/services.py); active customers (distinct over the period) from the interactions."""
    prev = period.previous()
    team = scope.params()
    M = DailyFigure.Metric
    deals = {"record_owner": True, "team_field": "record_team"}

    new = _now_and_before(scope.figures(M.NEW_CUSTOMERS), period, prev, new="count")
    contacted = _contacted(scope, period, prev, refreshed)
    revenue = _now_and_before(scope.figures(M.REVENUE, record_owner=True), period, prev, revenue="amount")
    won = _now_and_before(scope.figures(M.WON, **deals), period, prev, won="count", seconds="seconds")
    lost = _now_and_before(scope.figures(M.LOST, **deals), period, prev, lost="count")
    pipeline = scope.figures(M.PIPELINE, **deals).aggregate(value=Sum("amount"), weighted=Sum("weighted"))
    tickets = scope.figures(M.OPEN_TICKETS, record_owner=True).aggregate(
        open=Coalesce(Sum("count"), 0), breached=Coalesce(Sum("count", filter=Q(dim="breached")), 0)
    )
    churn = scope.figures(M.CHURN).aggregate(n=Sum("count"))["n"] or 0
    overdue = scope.staff_figures(M.OVERDUE_TASKS).aggregate(n=Sum("count"))["n"] or 0
    closed = {
        "won": won["won"],
        "won_prev": won["won_prev"],
        "lost": lost["lost"],
        "lost_prev": lost["lost_prev"],
        "cycle": _seconds_per(won["seconds"], won["won"]),
        "cycle_prev": _seconds_per(won["seconds_prev"], won["won_prev"]),
    }

    weighted = pipeline["weighted"]
    figures = [
        Figure(
            "new_customers",
            _("New customers"),
            new["new"],
            list_url("customers:list", team, period.params("created")),
            previous=new["new_prev"],
            compared=True,
        ),
        Figure(
            "contacted_customers",
            _("Active customers"),
            contacted["now"],
            list_url("customers:list", team, period.params("contacted")),
            previous=contacted["prev"],
            compared=True,
            help=_("Customers with at least one interaction in the period."),
        ),
        Figure(
            "revenue",
            _("Revenue"),
            Decimal(revenue["revenue"]),
            list_url("sales:order_list", team, period.params("ordered"), status=COUNTED_STATUSES),
            kind="money",
            previous=Decimal(revenue["revenue_prev"]),
            compared=True,
            help=_("Orders in the period, without cancelled and refunded ones."),
        ),
        Figure(
            "pipeline_value",
            _("Pipeline value"),
            pipeline["value"] or Decimal("0"),
            list_url("sales:opportunity_list", team, open_only="on", currency=HOME_CURRENCY),
            kind="money",
            help=_("Open opportunities in yuan, now."),
        ),
        Figure(
            "weighted_forecast",
            _("Weighted forecast"),
            (weighted / 100).quantize(Decimal("0.01")) if weighted is not None else Decimal("0"),
            list_url("sales:opportunity_list", team, open_only="on", currency=HOME_CURRENCY),
            kind="money",
            help=_("Open opportunities' amounts times their probability."),
        ),
        Figure(
            "win_rate",
            _("Win rate"),
            _pct(closed["won"], closed["won"] + closed["lost"]),
            list_url("sales:opportunity_list", team, period.params("closed")),
            kind="percent",
            previous=_pct(closed["won_prev"], closed["won_prev"] + closed["lost_prev"]),
            compared=True,
            help=_("Won among the opportunities closed in the period."),
        ),
        Figure(
            "days_to_win",
            _("Average days to win"),
            _days(closed["cycle"]),
            list_url("sales:opportunity_list", team, period.params("closed"), result="won"),
            kind="days",
            previous=_days(closed["cycle_prev"]),
            compared=True,
        ),
        Figure(
            "open_tickets",
            _("Open tickets"),
            tickets["open"],
            list_url("interactions:ticket_list", team, open_only="on"),
        ),
        Figure(
            "sla_breaches",
            _("SLA breaches"),
            tickets["breached"],
            list_url("interactions:ticket_list", team, breached="on"),
        ),
        Figure(
            "churn_risk",
            _("Customers at churn risk"),
            churn,
            list_url("customers:list", team, churn_warning="on"),
        ),
        Figure(
            "overdue_tasks",
            _("Overdue tasks"),
            overdue,
            _tasks_url(scope),
        ),
    ]
    return {f.key: f for f in figures}


def _tasks_url(scope: Scope) -> str:
    user = scope.user
    if user.is_superuser or user.managed_team_ids:
        return reverse("interactions:team_tasks")
    return reverse("interactions:my_tasks")


def customer_breakdown(scope: Scope) -> tuple[list[Figure], list[Figure]]:
    """Customers by lifecycle stage and by tier, from the latest snapshot (one query)."""
    stages, tiers = Customer.LifecycleStage, Customer.ValueTier
    counts: dict[str, int] = defaultdict(int)
    for row in scope.figures(DailyFigure.Metric.CUSTOMERS).values("dim", "dim2").annotate(n=Sum("count")):
        counts[f"stage_{row['dim']}"] += row["n"]
        counts[f"tier_{row['dim2']}"] += row["n"]
    team = scope.params()
    by_stage = [
        Figure(f"stage_{v}", label, counts[f"stage_{v}"], list_url("customers:list", team, lifecycle_stage=v))
        for v, label in stages.choices
    ]
    by_tier = [
        Figure(f"tier_{v}", label, counts[f"tier_{v}"], list_url("customers:list", team, value_tier=v))
        for v, label in tiers.choices
    ]
    return by_stage, by_tier


# --- charts ------------------------------------------------------------------------------


def _months_back(end: date, count: int) -> list[date]:
    first = end.replace(day=1)
    months = [first]
    for _i in range(count - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return months[::-1]


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _monthly(figures, measure: str, period: Period) -> tuple[list[date], dict[date, object]]:
    """The last CHART_MONTHS months up to the period's end, and the figures' sum per month."""
    months = _months_back(period.end, CHART_MONTHS)
    rows = (
        figures.filter(Period(months[0], period.end).day_q())
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(value=Sum(measure))
        .order_by("month")
    )
    return months, {local_date(r["month"]).replace(day=1): r["value"] for r in rows}


def new_customers_chart(scope: Scope, period: Period) -> Chart:
    months, values = _monthly(scope.figures(DailyFigure.Metric.NEW_CUSTOMERS), "count", period)
    chart = Chart("new_customers", _("New customers per month"), "columns", _("New customers"))
    for month in months:
        span = Period(month, min(_month_end(month), period.end))
        chart.points.append(
            Point(
                date_format(month, "YEAR_MONTH_FORMAT"),
                values.get(month, 0),
                list_url("customers:list", scope.params(), span.params("created")),
                short=month.strftime("%Y-%m"),
            )
        )
    return chart


def revenue_chart(scope: Scope, period: Period) -> Chart:
    months, values = _monthly(scope.figures(DailyFigure.Metric.REVENUE, record_owner=True), "amount", period)
    chart = Chart("revenue", _("Revenue per month"), "columns", _("Revenue"), money=True)
    for month in months:
        span = Period(month, min(_month_end(month), period.end))
        chart.points.append(
            Point(
                date_format(month, "YEAR_MONTH_FORMAT"),
                values.get(month) or Decimal("0"),
                list_url("sales:order_list", scope.params(), span.params("ordered"), status=COUNTED_STATUSES),
                short=month.strftime("%Y-%m"),
            )
        )
    return chart


def pipeline_chart(scope: Scope) -> Chart:
    figures = scope.figures(DailyFigure.Metric.PIPELINE, record_owner=True, team_field="record_team")
    rows = {r["dim"]: r for r in figures.values("dim").annotate(count=Sum("count"), amount=Sum("amount"))}
    chart = Chart(
        "pipeline",
        _("Pipeline by stage"),
        "bars",
        _("Amount"),
        money=True,
        note=_("Open opportunities in yuan, now."),
    )
    stages = PipelineStage.objects.filter(kind=PipelineStage.Kind.OPEN).order_by("order", "pk")
    for stage in stages:
        row = rows.get(str(stage.pk))
        if row is None and not stage.active:
            continue
        chart.points.append(
            Point(
                str(stage),
                (row or {}).get("amount") or Decimal("0"),
                list_url("sales:opportunity_list", scope.params(), stage=stage.pk, currency=HOME_CURRENCY),
            )
        )
    return chart


def tier_chart(by_tier: list[Figure]) -> Chart:
    chart = Chart("tiers", _("Tier distribution"), "bars", _("Customers"))
    chart.points = [Point(str(f.label), f.value, f.url) for f in by_tier]
    return chart


def interactions_chart(scope: Scope, period: Period) -> Chart:
    """Interactions per rep per week: a bar per rep, a segment per week (the last weeks of
    the period)."""
    window, weeks = period.last_weeks(CHART_WEEKS)
    rows = (
        scope.figures(DailyFigure.Metric.INTERACTIONS)
        .filter(window.day_q(), record_owner__in=scope.staff())
        .annotate(week=TruncWeek("day"))
        .values(
            "week",
            "record_owner",
            "record_owner__username",
            "record_owner__first_name",
            "record_owner__last_name",
        )
        .annotate(count=Sum("count"))
    )
    per_rep: dict[int, dict] = {}
    for r in rows:
        name = str(
            User(
                username=r["record_owner__username"],
                first_name=r["record_owner__first_name"],
                last_name=r["record_owner__last_name"],
            )
        )
        rep = per_rep.setdefault(r["record_owner"], {"name": name, "weeks": {}, "total": 0})
        rep["weeks"][local_date(r["week"])] = r["count"]
        rep["total"] += r["count"]
    week_labels = {w: date_format(w, "MONTH_DAY_FORMAT") for w, _span in weeks}
    chart = Chart(
        "interactions",
        _("Interactions per rep per week"),
        "stacked",
        _("Interactions"),
        series=[week_labels[w] for w, _span in weeks],
    )
    reps = sorted(per_rep.items(), key=lambda item: (-item[1]["total"], item[1]["name"]))
    if len(reps) > MAX_REPS:
        chart.note = _("The %(count)d staff with the most interactions.") % {"count": MAX_REPS}
    for staff_id, rep in reps[:MAX_REPS]:
        for week, span in weeks:
            chart.points.append(
                Point(
                    rep["name"],
                    rep["weeks"].get(week, 0),
                    list_url(
                        "interactions:interaction_list",
                        scope.params(),
                        span.params("occurred"),
                        staff=staff_id,
                    ),
                    series=week_labels[week],
                )
            )
    return chart


def _top_customers(scope: Scope, period: Period, refreshed=LATEST) -> list[dict]:
    if _counted_for_period(period, refreshed):
        top = list(
            scope.figures(DailyFigure.Metric.TOP_CUSTOMERS)
            .filter(day=period.start)
            .values("dim", "amount")
            .order_by("-amount")[: TOP_CUSTOMERS * 4]
        )
        names = dict(Customer.objects.filter(pk__in=[int(r["dim"]) for r in top]).values_list("pk", "name"))
        rows = [{"customer": int(r["dim"]), "spend": r["amount"]} for r in top]
        rows.sort(key=lambda r: (-r["spend"], r["customer"]))
        return [{**r, "customer__name": names.get(r["customer"], "")} for r in rows[:TOP_CUSTOMERS]]
    return list(
        scope.orders()
        .counted()
        .filter(period.q("ordered_at"))
        .values("customer", "customer__name")
        .annotate(spend=Sum("total"))
        .order_by("-spend", "customer")[:TOP_CUSTOMERS]
    )


def top_customers_chart(scope: Scope, period: Period, *, refreshed=LATEST) -> Chart:
    rows = _top_customers(scope, period, refreshed)
    chart = Chart("top_customers", _("Top 10 customers by spend"), "bars", _("Spend"), money=True)
    chart.points = [
        Point(
            # str(): an anonymised customer has no name, only "Anonymised customer #id".
            str(Customer(pk=r["customer"], name=r["customer__name"])),
            r["spend"],
            list_url(
                "sales:order_list",
                scope.params(),
                period.params("ordered"),
                status=COUNTED_STATUSES,
                customer=r["customer"],
            ),
        )
        for r in rows
    ]
    return chart


def tickets_chart(scope: Scope, period: Period) -> Chart:
    figures = scope.figures(DailyFigure.Metric.TICKETS, record_owner=True).filter(period.day_q())
    counts = {r["dim"]: r["count"] for r in figures.values("dim").annotate(count=Sum("count"))}
    chart = Chart("tickets", _("Tickets by category"), "bars", _("Tickets"), note=_("Opened in the period."))
    chart.points = [
        Point(
            str(label),
            counts.get(value, 0),
            list_url("interactions:ticket_list", scope.params(), period.params("created"), category=value),
        )
        for value, label in Ticket.Category.choices
    ]
    return chart


CHARTS = ("new_customers", "revenue", "pipeline", "tiers", "interactions", "top_customers", "tickets")


def dashboard_charts(
    scope: Scope, period: Period, by_tier: list[Figure], *, refreshed=LATEST
) -> dict[str, Chart]:
    return {
        "new_customers": new_customers_chart(scope, period),
        "revenue": revenue_chart(scope, period),
        "pipeline": pipeline_chart(scope),
        "tiers": tier_chart(by_tier),
        "interactions": interactions_chart(scope, period),
        "top_customers": top_customers_chart(scope, period, refreshed=refreshed),
        "tickets": tickets_chart(scope, period),
    }


def dashboard_chart(key: str, scope: Scope, period: Period) -> Chart | None:
    """One chart (for its export)."""
    if key == "tiers":
        return tier_chart(customer_breakdown(scope)[1])
    builders = {
        "new_customers": lambda: new_customers_chart(scope, period),
        "revenue": lambda: revenue_chart(scope, period),
        "pipeline": lambda: pipeline_chart(scope),
        "interactions": lambda: interactions_chart(scope, period),
        "top_customers": lambda: top_customers_chart(scope, period),
        "tickets": lambda: tickets_chart(scope, period),
    }
    builder = builders.get(key)
    return builder() if builder else None
