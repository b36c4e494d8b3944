"""The customer maintenance diagram (客户管理维护图): the tier pyramid, the lifecycle funnel,
tier transitions between two dates and the maintenance process, each number linked to the
customers behind it. Queries: pyramid (2), funnel (1), transitions (1), process (3)."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, stale_q
from interactions.models import Task
from reports.charts import PALETTE, svg_number
from reports.scope import Period, Scope
from reports.selectors import COUNTED_STATUSES, list_url
from sales.churn import WIN_BACK_RULE

TIERS = Customer.ValueTier
STAGES = Customer.LifecycleStage
# Prospects "being worked": contacted within this many days.
WORKED_DAYS = 30
UNCLASSIFIED = "none"


@dataclass
class Level:
    key: str
    label: str
    count: int
    url: str
    revenue: Decimal = Decimal("0")
    revenue_url: str = ""
    share: float | None = None  # of the period's revenue, in percent
    points: str = ""  # the pyramid drawing: this level's trapezoid
    text_y: int = 0


def tier_pyramid(scope: Scope, period: Period) -> list[Level]:
    """VIP at the top, dormant at the base: customers per tier now and the share of the
    period's revenue from each tier's customers."""
    counts = scope.customers().aggregate(**{v: Count("pk", filter=Q(value_tier=v)) for v in TIERS.values})
    revenue = {
        r["customer__value_tier"]: r["total"]
        for r in scope.orders()
        .counted()
        .filter(period.q("ordered_at"))
        .values("customer__value_tier")
        .annotate(total=Sum("total"))
    }
    all_revenue = sum(revenue.values(), Decimal("0"))
    team = scope.params()
    levels = []
    for i, (value, label) in enumerate(TIERS.choices):
        amount = revenue.get(value) or Decimal("0")
        levels.append(
            Level(
                value,
                str(label),
                counts[value],
                list_url("customers:list", team, value_tier=value),
                revenue=amount,
                revenue_url=list_url(
                    "sales:order_list", team, period.params("ordered"), status=COUNTED_STATUSES, tier=value
                ),
                share=round(float(amount * 100 / all_revenue), 1) if all_revenue else None,
                points=_trapezoid(i),
                text_y=PYRAMID_ROW * i + PYRAMID_ROW // 2 + 5,
            )
        )
    return levels


PYRAMID_ROW = 50


def _trapezoid(level: int, centre: float = 280) -> str:
    """A pyramid level (0 = the top), each wider than the one above it whatever the counts:
    the counts are written on it, the shape shows the order."""
    top, bottom = 60 + 110 * level, 60 + 110 * (level + 1)
    y0, y1 = PYRAMID_ROW * level, PYRAMID_ROW * (level + 1) - 2
    return " ".join(
        f"{x:g},{y:g}"
        for x, y in (
            (centre - top / 2, y0),
            (centre + top / 2, y0),
            (centre + bottom / 2, y1),
            (centre - bottom / 2, y1),
        )
    )


@dataclass
class Step:
    key: str
    label: str
    count: int
    url: str
    rate: float | None = None  # conversion from the previous step, percent
    rate_label: str = ""
    width: str = "0"  # bar length, percent of the first step (an SVG attribute: never localised)


def lifecycle_funnel(scope: Scope, period: Period) -> list[Step]:
    """The customers added in the period, by how far they have come since: added → bought
    (new, existing or churned now) → existing → churned."""
    bought = [STAGES.NEW, STAGES.EXISTING, STAGES.CHURNED]
    counts = (
        scope.customers()
        .filter(period.q("created_at"))
        .aggregate(
            added=Count("pk"),
            bought=Count("pk", filter=Q(lifecycle_stage__in=bought)),
            existing=Count("pk", filter=Q(lifecycle_stage=STAGES.EXISTING)),
            churned=Count("pk", filter=Q(lifecycle_stage=STAGES.CHURNED)),
        )
    )
    base = (scope.params(), period.params("created"))

    def rate(part: int, whole: int) -> float | None:
        return round(part * 100 / whole, 1) if whole else None

    steps = [
        Step("added", _("Added (prospects)"), counts["added"], list_url("customers:list", *base)),
        Step(
            "bought",
            _("Became customers"),
            counts["bought"],
            list_url("customers:list", *base, lifecycle_stage=bought),
            rate(counts["bought"], counts["added"]),
            _("of those added"),
        ),
        Step(
            "existing",
            _("Existing customers"),
            counts["existing"],
            list_url("customers:list", *base, lifecycle_stage=STAGES.EXISTING),
            rate(counts["existing"], counts["bought"]),
            _("of those who bought"),
        ),
        Step(
            "churned",
            _("Churned"),
            counts["churned"],
            list_url("customers:list", *base, lifecycle_stage=STAGES.CHURNED),
            rate(counts["churned"], counts["bought"]),
            _("of those who bought"),
        ),
    ]
    for step in steps:
        step.width = svg_number(step.count * 100 / counts["added"]) if counts["added"] else "0"
    return steps


@dataclass
class Flow:
    source: str
    target: str
    count: int
    url: str
    # Drawing: band from the left column to the right one.
    path: str = ""
    colour: str = ""
    thickness: float = 0


@dataclass
class Transitions:
    sources: list[tuple[str, str]]  # (key, label), "none" first
    targets: list[tuple[str, str]]
    flows: list[Flow] = field(default_factory=list)
    matrix: list[tuple[str, list[tuple[int, str]]]] = field(default_factory=list)  # label, [(count, url)]
    total: int = 0

    def cell(self, source: str, target: str) -> Flow | None:
        return next((f for f in self.flows if f.source == source and f.target == target), None)


def tier_transitions(scope: Scope, period: Period) -> Transitions:
    """How many customers moved from each tier to each other tier between the period's two
    dates (from the recorded tier changes: their tier before the first change in the period
    against their tier after the last one; customers who came back to where they started
    did not move)."""
    rows = (
        scope.customers()
        .tier_moves(period.start, period.end)
        .exclude(tier_before=F("tier_after"))
        .values("tier_before", "tier_after")
        .annotate(count=Count("pk"))
    )
    counts = {(r["tier_before"] or UNCLASSIFIED, r["tier_after"]): r["count"] for r in rows}
    sources = [(UNCLASSIFIED, str(_("Not classified"))), *((v, str(label)) for v, label in TIERS.choices)]
    targets = [(v, str(label)) for v, label in TIERS.choices]
    out = Transitions(sources, targets)
    base = (scope.params(), period.params("tier_moved"))
    for source, source_label in sources:
        cells = []
        for target, _label in targets:
            count = counts.get((source, target), 0)
            url = list_url("customers:list", *base, tier_from=source, tier_to=target)
            cells.append((count, url) if source != target else (None, ""))
            if count:
                out.flows.append(Flow(source, target, count, url))
        out.matrix.append((source_label, cells))
    out.total = sum(f.count for f in out.flows)
    return out


@dataclass
class ProcessStep:
    key: str
    phase: str
    label: str
    count: int
    url: str
    help: str = ""


def maintenance_process(scope: Scope, period: Period) -> list[ProcessStep]:
    """Acquire → maintain → churn management, with the live numbers at each step."""
    now = timezone.now()
    worked_since = timezone.localdate() - timedelta(days=WORKED_DAYS - 1)
    team = scope.params()
    counts = scope.customers().aggregate(
        worked=Count(
            "pk",
            filter=Q(
                lifecycle_stage=STAGES.PROSPECT,
                last_contacted_at__gte=Period(worked_since, worked_since).since,
            ),
        ),
        stale=Count("pk", filter=stale_q(now)),
        warnings=Count("pk", filter=Q(churn_flagged_at__isnull=False)),
    )
    win_backs = (
        scope.customers()
        .filter(
            pk__in=Task.objects.filter(
                rule=WIN_BACK_RULE,
                status=Task.Status.DONE,
                completed_at__gte=period.since,
                completed_at__lt=period.until,
            ).values("customer_id")
        )
        .count()
    )
    return [
        ProcessStep(
            "worked",
            _("Acquire"),
            _("Prospects being worked"),
            counts["worked"],
            list_url(
                "customers:list",
                team,
                lifecycle_stage=STAGES.PROSPECT,
                last_contacted_after=worked_since.isoformat(),
            ),
            _("Prospects contacted in the last %(days)d days.") % {"days": WORKED_DAYS},
        ),
        ProcessStep(
            "check_in",
            _("Maintain"),
            _("Customers due a check-in"),
            counts["stale"],
            list_url("customers:list", team, stale="on"),
            _("Details not confirmed within their tier's period."),
        ),
        ProcessStep(
            "warnings",
            _("Churn management"),
            _("Churn warnings open"),
            counts["warnings"],
            list_url("customers:list", team, churn_warning="on"),
        ),
        ProcessStep(
            "win_backs",
            _("Churn management"),
            _("Win-backs done"),
            win_backs,
            list_url("customers:list", team, period.params("task_done"), task_rule=WIN_BACK_RULE),
            _("Customers whose win-back task was done in the period."),
        ),
    ]


def flow_layout(transitions: Transitions, width: int = 560, row: int = 44) -> dict:
    """Geometry of the flow diagram: a node per tier on each side, a band per move whose
    thickness follows its count."""
    height = row * len(transitions.sources) + 20
    left_x, right_x, node_w = 120, width - 120, 14
    y_of = {key: 10 + row * i + row / 2 for i, (key, _l) in enumerate(transitions.sources)}
    y_to = {key: 10 + row * (i + 1) + row / 2 for i, (key, _l) in enumerate(transitions.targets)}
    biggest = max((f.count for f in transitions.flows), default=1)
    colours = {key: PALETTE[i % len(PALETTE)] for i, (key, _l) in enumerate(transitions.sources)}
    for flow in transitions.flows:
        thickness = max(2.0, 16 * flow.count / biggest)
        x1, x2 = left_x + node_w, right_x
        y1, y2 = y_of[flow.source], y_to[flow.target]
        mid = (x1 + x2) / 2
        flow.path = f"M{svg_number(x1)},{svg_number(y1)} C{svg_number(mid)},{svg_number(y1)} {svg_number(mid)},{svg_number(y2)} {svg_number(x2)},{svg_number(y2)}"
        flow.colour = colours[flow.source]
        flow.thickness = svg_number(thickness)
    return {
        "width": width,
        "height": height,
        "left_x": left_x,
        "right_x": right_x,
        "node_w": node_w,
        "node_left_x": left_x - 6,
        "label_right_x": right_x + 20,
        # (key, label, node top, text baseline[, colour]), as strings: never localised.
        "sources": [
            (key, label, svg_number(y_of[key] - 12), svg_number(y_of[key] + 4), colours[key])
            for key, label in transitions.sources
        ],
        "targets": [
            (key, label, svg_number(y_to[key] - 12), svg_number(y_to[key] + 4))
            for key, label in transitions.targets
        ],
    }
