"""Value tiers (客户分层) and ABC classes: the nightly RFM scoring.

Over the window of TierSettings (default 365 days) every live customer's purchases (orders
paid, shipped or completed) give three measures: recency (the day of the last purchase),
frequency (how many orders) and monetary (their total). Each is scored 1–5 by quintiles
among the customers who bought in the window; the scores ("RFM", e.g. "455") make the tier:

    VIP        R+F+M ≥ vip_min_rfm_sum
    dormant    no purchase in the window, or R ≤ dormant_max_recency
    active     R ≥ active_min_recency
    potential  the rest

Equal values score alike, from the lowest place they share (when most customers bought
once, they all have F=1). The ABC class ranks the customers by revenue in the window: A are
the fewest top customers who together make abc_a_percent of it, B the next abc_b_percent,
C the other buyers; a customer without a purchase in the window is not classified ("").
Customers with equal revenue share a class.

A tier or class set by hand (value_tier_manual / abc_class_manual) stays; the RFM score is
still kept current. Every tier change is recorded as a TierChange (the reports' maintenance
diagram); owners get one notification per night about their customers who became VIP or
dormant.

Memory stays bounded whatever the number of customers: the quintile cut points and the ABC
lines come from sorted aggregates streamed from the database (only a few numbers are kept),
and customers are then scored in batches by primary key.
"""

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.models import User
from core.notifications import notify
from customers.models import Customer, TierChange
from sales.models import Order, TierSettings

Tier = Customer.ValueTier


class Quintiles:
    """Quintile scores of a measure, from its values fed in ascending order.

    A customer scores the fifth of the ranking (counted from the bottom) that their place
    falls in: 5 × place / count, rounded up. Equal values share the lowest place, so when
    most customers bought once they all have F=1. Only four cut points are kept: a value
    scores above s when it exceeds the value at place ⌊s × count / 5⌋ (or that place is 0).
    """

    def __init__(self, count: int):
        places = [k * count // 5 for k in range(1, 5)]
        # None: a level every value reaches (with fewer than five buyers the best still get 5).
        self.cuts: list = [None for place in places if place == 0]
        self.positions = [place - 1 for place in places if place > 0]
        self.seen = 0

    def add(self, value) -> None:
        while self.positions and self.positions[0] == self.seen:
            self.cuts.append(value)
            self.positions.pop(0)
        self.seen += 1

    def score(self, value) -> int:
        return 1 + sum(cut is None or value > cut for cut in self.cuts)


class AbcLines:
    """The smallest revenue of class A and of class B, from the revenues fed in ascending order.

    Walking down from the top, a customer belongs to A while the revenue above them is below
    a% of the total. Walking up from the bottom, as here, that is where the running total
    passes (100 − a)% of it; likewise B from (100 − a − b)%.
    """

    def __init__(self, total: Decimal, a_percent: int, b_percent: int):
        self.total = total
        self.a_start = 100 - a_percent
        self.b_start = 100 - a_percent - b_percent
        self.running = Decimal("0")
        self.a_min: Decimal | None = None
        self.b_min: Decimal | None = None

    def add(self, revenue: Decimal) -> None:
        self.running += revenue
        if self.b_min is None and 100 * self.running > self.b_start * self.total:
            self.b_min = revenue
        if self.a_min is None and 100 * self.running > self.a_start * self.total:
            self.a_min = revenue

    def classify(self, revenue: Decimal) -> str:
        if self.a_min is not None and revenue >= self.a_min:
            return Customer.AbcClass.A
        if self.b_min is not None and revenue >= self.b_min:
            return Customer.AbcClass.B
        return Customer.AbcClass.C


def _recency(last_purchase: datetime) -> int:
    """A number that grows with recency: the day of the last purchase (local calendar)."""
    return timezone.localdate(last_purchase).toordinal()


def window_purchases(*, since: datetime, until: datetime) -> QuerySet:
    """Per live customer who bought in [since, until]: customer_id, last_purchase, frequency
    and monetary (a GROUP BY on orders)."""
    return (
        Order.objects.filter(
            status__in=Order.PURCHASED,
            ordered_at__gte=since,
            ordered_at__lte=until,
            customer__deleted_at__isnull=True,
        )
        .order_by()
        .values("customer_id")
        .annotate(last_purchase=Max("ordered_at"), frequency=Count("pk"), monetary=Sum("total"))
    )


class Scale:
    """Where the quintiles and the ABC lines fall in this window: one count, then each
    measure streamed sorted (three queries) — a few numbers in memory, not the customers."""

    def __init__(self, purchases: QuerySet, tier_settings: TierSettings):
        totals = purchases.aggregate(buyers=Count("customer_id"), revenue=Sum("monetary"))
        buyers, revenue = totals["buyers"], totals["revenue"] or Decimal("0")
        self.recency = Quintiles(buyers)
        self.frequency = Quintiles(buyers)
        self.monetary = Quintiles(buyers)
        self.abc = AbcLines(revenue, tier_settings.abc_a_percent, tier_settings.abc_b_percent)
        for last_purchase in self._sorted(purchases, "last_purchase"):
            self.recency.add(_recency(last_purchase))
        for frequency in self._sorted(purchases, "frequency"):
            self.frequency.add(frequency)
        for monetary in self._sorted(purchases, "monetary"):
            self.monetary.add(monetary)
            self.abc.add(monetary)

    @staticmethod
    def _sorted(purchases: QuerySet, measure: str):
        return purchases.order_by(measure).values_list(measure, flat=True).iterator(chunk_size=5000)

    def rfm(self, purchase: dict) -> tuple[int, int, int]:
        return (
            self.recency.score(_recency(purchase["last_purchase"])),
            self.frequency.score(purchase["frequency"]),
            self.monetary.score(purchase["monetary"]),
        )


def tier_for(rfm: tuple[int, int, int] | None, tier_settings: TierSettings) -> str:
    """The tier of a customer with these R, F, M scores (None: no purchase in the window)."""
    if rfm is None:
        return Tier.DORMANT
    recency = rfm[0]
    if sum(rfm) >= tier_settings.vip_min_rfm_sum:
        return Tier.VIP
    if recency <= tier_settings.dormant_max_recency:
        return Tier.DORMANT
    if recency >= tier_settings.active_min_recency:
        return Tier.ACTIVE
    return Tier.POTENTIAL


def _score(purchase: dict | None, scale: Scale, tier_settings: TierSettings) -> tuple[str, str, str]:
    """(RFM score, tier, ABC class) of a customer's purchases in the window (None: none),
    before any choice made by hand."""
    if purchase is None:
        return "", tier_for(None, tier_settings), Customer.AbcClass.NONE
    rfm = scale.rfm(purchase)
    return "".join(map(str, rfm)), tier_for(rfm, tier_settings), scale.abc.classify(purchase["monetary"])


def customers_score(*, now: datetime | None = None, batch_size: int = 1000) -> dict[str, int]:
    """Score every live customer: RFM score, tier, ABC class. Idempotent: a second run on
    the same data changes nothing and records nothing.

    Each batch is its own transaction and locks its customers (skipping any row locked by a
    person's edit or an order being saved; those keep yesterday's values until the next
    run), so an edit that sets a tier by hand is never overwritten by a stale read.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    tier_settings = TierSettings.current()
    since = timezone.make_aware(datetime.combine(today - timedelta(days=tier_settings.window_days), time.min))
    purchases = window_purchases(since=since, until=now)
    scale = Scale(purchases, tier_settings)

    counts = {"scored": 0, "tier_changes": 0, "abc_changes": 0}
    # owner id → how many of their customers became VIP / dormant tonight
    news: defaultdict[int, Counter] = defaultdict(Counter)
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                Customer.objects.active()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .only(
                    "owner", "value_tier", "value_tier_manual", "rfm_score", "abc_class", "abc_class_manual"
                )[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            # A key range (not IN): an index range scan on orders by customer.
            batch_purchases = purchases.filter(customer_id__gte=batch[0].pk, customer_id__lte=last_pk)
            bought = {p["customer_id"]: p for p in batch_purchases}
            changed: list[Customer] = []
            tier_changes: list[TierChange] = []
            for customer in batch:
                rfm_score, tier, abc_class = _score(bought.get(customer.pk), scale, tier_settings)
                dirty = customer.rfm_score != rfm_score
                customer.rfm_score = rfm_score
                if not customer.value_tier_manual and customer.value_tier != tier:
                    tier_changes.append(
                        TierChange(
                            customer=customer,
                            changed_on=today,
                            from_tier=customer.value_tier,
                            to_tier=tier,
                            source=TierChange.Source.JOB,
                        )
                    )
                    if tier in (Tier.VIP, Tier.DORMANT) and customer.owner_id:
                        news[customer.owner_id][tier] += 1
                    customer.value_tier = tier
                    dirty = True
                if not customer.abc_class_manual and customer.abc_class != abc_class:
                    customer.abc_class = abc_class
                    counts["abc_changes"] += 1
                    dirty = True
                if dirty:
                    changed.append(customer)
            _save(changed)
            if tier_changes:
                TierChange.objects.bulk_create(tier_changes)
            counts["scored"] += len(batch)
            counts["tier_changes"] += len(tier_changes)
    _notify_owners(news, today)
    return counts


def _save(changed: list[Customer]) -> None:
    """One UPDATE per distinct (tier, score, class): bulk_update()'s CASE per row costs
    far more to build. Derived figures: no change-history row (TierChange is the record)."""
    groups: defaultdict[tuple[str, str, str], list[int]] = defaultdict(list)
    for customer in changed:
        groups[customer.value_tier, customer.rfm_score, customer.abc_class].append(customer.pk)
    for (tier, rfm_score, abc_class), pks in groups.items():
        Customer.objects.filter(pk__in=pks).update(value_tier=tier, rfm_score=rfm_score, abc_class=abc_class)


def _notify_owners(news: dict[int, Counter], today: date) -> None:
    """One notification per owner and night: how many of their customers became VIP or
    dormant (the list link shows them by tier)."""
    for owner in User.objects.filter(pk__in=list(news), is_active=True).order_by("pk"):
        tiers = news[owner.pk]
        shown = Tier.VIP if tiers[Tier.VIP] else Tier.DORMANT
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            title = _("Value tiers of your customers: %(vip)d new VIP, %(dormant)d now dormant") % {
                "vip": tiers[Tier.VIP],
                "dormant": tiers[Tier.DORMANT],
            }
            notify(
                recipient=owner,
                kind="value_tier_changes",
                title=title,
                url=f"{reverse('customers:list')}?value_tier={shown}",
                dedupe_key=f"value-tiers:{today.isoformat()}",
            )
