"""Order and opportunity services: Decimal totals, order numbers, the customer's purchase
statistics (also under concurrent orders), lifecycle moves, stage history, and the demo."""

import io
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connections
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from customers.models import Customer, CustomerQuerySet
from customers.services import customer_update
from customers.tests.factories import CustomerFactory
from sales import services
from sales.models import Opportunity, OpportunityStageChange, Order, OrderLine, PipelineStage
from sales.tests.factories import (
    ensure_default_pipeline,
    make_opportunity,
    make_order,
    make_product,
)

pytestmark = pytest.mark.django_db

S = Customer.LifecycleStage
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


@pytest.fixture
def stages(db):
    return ensure_default_pipeline()


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


@pytest.fixture
def product(db):
    return make_product(name="办公椅", unit_price=Decimal("19.99"))


def _stats(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return customer.order_count, customer.total_spend, customer.first_purchase_at, customer.last_purchase_at


# --- totals and numbers ----------------------------------------------------------------------


def test_line_totals_are_exact_cents_rounded_half_up_and_the_order_total_is_their_sum(rep, customer, product):
    cheap = make_product(unit_price=Decimal("10.05"))
    order = make_order(
        customer,
        rep,
        [
            (product, 3),  # 59.97
            (product, "0.5"),  # 9.995 → 10.00
            (cheap, "0.5"),  # 5.025 → 5.03 (half even would give 5.02)
            (cheap, 1, "2.20", "12.5"),  # 1.925 → 1.93 (half even: 1.92)
            (product, 3, None, "12.5"),  # 52.47375 → 52.47
        ],
    )
    lines = list(OrderLine.objects.filter(order=order).order_by("id"))
    assert [line.line_total for line in lines] == [
        Decimal("59.97"),
        Decimal("10.00"),
        Decimal("5.03"),
        Decimal("1.93"),
        Decimal("52.47"),
    ]
    assert [line.unit_price for line in lines] == [
        Decimal(p) for p in ("19.99", "19.99", "10.05", "2.20", "19.99")
    ]
    order.refresh_from_db()
    assert order.total == Decimal("129.40") == sum(line.line_total for line in lines)
    assert _stats(customer)[:2] == (1, Decimal("129.40"))


def test_order_numbers_read_so_local_year_month_and_a_seven_digit_id(settings, rep, customer):
    settings.TIME_ZONE = "Asia/Shanghai"
    march = make_order(customer, rep, ordered_at=datetime(2026, 3, 15, 4, tzinfo=UTC))
    again = make_order(customer, rep, ordered_at=datetime(2026, 3, 15, 4, tzinfo=UTC))
    # 20:00 UTC on 31 March is already 1 April in Shanghai: the local month counts.
    april = make_order(customer, rep, ordered_at=datetime(2026, 3, 31, 20, tzinfo=UTC))
    for order in (march, again, april):
        order.refresh_from_db()
        assert re.fullmatch(r"SO\d{6}\d{7}", order.number)
    assert march.number == f"SO202603{march.pk:07d}"
    assert april.number == f"SO202604{april.pk:07d}"
    assert len({march.number, again.number, april.number}) == 3


def test_an_order_needs_valid_lines_and_nothing_is_saved_otherwise(rep, customer, product):
    with pytest.raises(ValidationError):
        make_order(customer, rep, [])
    with pytest.raises(ValidationError):
        make_order(customer, rep, [(product, 1, None, "120")])  # discount over 100 %
    with pytest.raises(ValidationError):
        make_order(customer, rep, [(product, 0)])
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert _stats(customer) == (0, Decimal("0.00"), None, None)


def test_the_order_owner_defaults_to_the_customers_owner(rep, manager, customer):
    order = make_order(customer, manager)
    assert order.owner == rep and order.created_by == manager


# --- purchase statistics -----------------------------------------------------------------------


def test_statistics_are_right_after_each_order(rep, customer, product):
    first_at, last_at = T0 - timedelta(days=30), T0
    make_order(customer, rep, [(product, 1, "100.00")], ordered_at=last_at)
    assert _stats(customer) == (1, Decimal("100.00"), last_at, last_at)
    make_order(customer, rep, [(product, 2, "25.25")], ordered_at=first_at, status=Order.Status.PENDING)
    assert _stats(customer) == (2, Decimal("150.50"), first_at, last_at)
    assert customer.average_order_value == Decimal("75.25")
    make_order(customer, rep, [(product, 1, "0.01")], ordered_at=T0 - timedelta(days=1))
    customer.refresh_from_db()
    assert customer.average_order_value == Decimal("50.17")  # 150.51 / 3


def test_the_average_order_value_rounds_half_up_like_every_amount(rep, customer, product):
    make_order(customer, rep, [(product, 1, "50.02")])
    make_order(customer, rep, [(product, 1, "50.03")])
    customer.refresh_from_db()
    assert customer.total_spend == Decimal("100.05")
    assert customer.average_order_value == Decimal("50.03")  # 50.025, half up


@pytest.mark.parametrize(
    "status, counted",
    [
        (Order.Status.PAID, True),
        (Order.Status.SHIPPED, True),
        (Order.Status.COMPLETED, True),
        (Order.Status.CANCELLED, False),
        (Order.Status.REFUNDED, False),
    ],
)
def test_a_status_change_keeps_or_drops_the_order_from_the_statistics(
    rep, customer, product, status, counted
):
    make_order(customer, rep, [(product, 1, "100.00")], ordered_at=T0 - timedelta(days=10))
    order = make_order(customer, rep, [(product, 1, "40.00")], ordered_at=T0, status=Order.Status.PENDING)
    services.order_set_status(order=order, user=rep, status=status)
    if counted:
        assert _stats(customer) == (2, Decimal("140.00"), T0 - timedelta(days=10), T0)
    else:
        assert _stats(customer) == (1, Decimal("100.00"), T0 - timedelta(days=10), T0 - timedelta(days=10))


def test_a_cancelled_order_stays_cancelled_and_unknown_statuses_are_refused(rep, customer):
    order = make_order(customer, rep)
    with pytest.raises(ValidationError):
        services.order_set_status(order=order, user=rep, status="lost_in_the_post")
    services.order_set_status(order=order, user=rep, status=Order.Status.CANCELLED)
    with pytest.raises(ValidationError):
        services.order_set_status(order=order, user=rep, status=Order.Status.PAID)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert _stats(customer)[:2] == (0, Decimal("0.00"))


def test_editing_the_lines_recomputes_the_order_and_the_customer(rep, customer, product):
    order = make_order(customer, rep, [(product, 1)])
    desk = make_product(unit_price=Decimal("300.00"))
    services.order_update(
        order=order, user=rep, data={}, lines=[services.LineData(product=desk, quantity=Decimal("2"))]
    )
    order.refresh_from_db()
    assert order.total == Decimal("600.00")
    assert list(order.lines.values_list("product_id", "quantity")) == [(desk.pk, Decimal("2.000"))]
    assert _stats(customer)[:2] == (1, Decimal("600.00"))


def test_moving_an_order_to_another_customer_refreshes_both(rep, customer, product):
    other = CustomerFactory(name="李雷", owner=rep)
    now = timezone.now()
    make_order(customer, rep, [(product, 1, "100.00")], ordered_at=now - timedelta(days=5))
    moved = make_order(customer, rep, [(product, 1, "40.00")], ordered_at=now)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.EXISTING
    services.order_update(order=moved, user=rep, data={"customer": other})
    assert _stats(customer) == (1, Decimal("100.00"), now - timedelta(days=5), now - timedelta(days=5))
    assert _stats(other) == (1, Decimal("40.00"), now, now)
    assert other.lifecycle_stage == S.NEW
    assert customer.lifecycle_stage == S.EXISTING  # never backwards


# --- two orders at the same moment -------------------------------------------------------------


def _create_orders_at_once(customer, user, products) -> list[str]:
    """Each thread has its own database connection (and transaction); returns the errors."""
    barrier = threading.Barrier(len(products), timeout=20)
    errors = []

    def create(product):
        try:
            barrier.wait()
            make_order(customer, user, [(product, 1)])
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(p,)) for p in products]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.parametrize("repetition", range(5))
@pytest.mark.django_db(transaction=True)
def test_two_orders_saved_at_the_same_moment_are_both_counted(rep, repetition):
    customer = CustomerFactory(name="王小明", owner=rep)
    products = [make_product(unit_price=Decimal("19.99")), make_product(unit_price=Decimal("80.01"))]
    assert _create_orders_at_once(customer, rep, products) == []
    assert Order.objects.filter(customer=customer).count() == 2
    assert _stats(customer)[:2] == (2, Decimal("100.00"))
    assert customer.lifecycle_stage == S.EXISTING  # the second purchase saw the first


@pytest.mark.django_db(transaction=True)
def test_both_orders_are_counted_even_when_both_are_saved_before_either_recomputes(monkeypatch, rep):
    """Both orders are saved (not committed) before either recomputes; the row lock then
    makes the second recomputation wait for the first commit and see both orders.
    (Without the lock, each would see only its own order and the last commit would win;
    that race is timing-dependent, so it is not asserted here.)"""
    customer = CustomerFactory(name="王小明", owner=rep)
    products = [make_product(unit_price=Decimal("19.99")), make_product(unit_price=Decimal("80.01"))]
    both_saved = threading.Barrier(2, timeout=20)
    select_for_update = CustomerQuerySet.select_for_update

    def after_both_orders_are_saved(qs, *args, **kwargs):
        both_saved.wait()
        return select_for_update(qs, *args, **kwargs)

    monkeypatch.setattr(CustomerQuerySet, "select_for_update", after_both_orders_are_saved)
    assert _create_orders_at_once(customer, rep, products) == []
    assert Order.objects.filter(customer=customer).count() == 2
    assert _stats(customer)[0] == 2


# --- lifecycle moves ---------------------------------------------------------------------------


def test_a_prospect_becomes_new_when_the_first_order_is_paid_not_while_pending(rep, customer):
    order = make_order(customer, rep, status=Order.Status.PENDING)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.PROSPECT and customer.order_count == 1
    services.order_set_status(order=order, user=rep, status=Order.Status.PAID)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.NEW


@pytest.mark.parametrize("status", [Order.Status.SHIPPED, Order.Status.COMPLETED])
def test_a_shipped_or_completed_first_order_also_makes_a_new_customer(rep, customer, status):
    make_order(customer, rep, status=status)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.NEW


def test_a_new_customer_becomes_existing_on_the_second_purchase(rep, customer):
    make_order(customer, rep, status=Order.Status.PAID)
    make_order(customer, rep, status=Order.Status.PENDING)  # an order, not yet a purchase
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.NEW
    make_order(customer, rep, status=Order.Status.COMPLETED)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.EXISTING


def test_a_new_customer_becomes_existing_once_the_first_purchase_is_old_enough(settings, rep, customer):
    days = settings.CUSTOMER_EXISTING_AFTER_DAYS
    with time_machine.travel(T0, tick=False) as traveller:
        make_order(customer, rep, status=Order.Status.PAID)
        traveller.shift(timedelta(days=days - 1))
        make_order(customer, rep, status=Order.Status.PENDING)  # recomputes, no second purchase
        customer.refresh_from_db()
        assert customer.lifecycle_stage == S.NEW
        traveller.shift(timedelta(days=1))
        make_order(customer, rep, status=Order.Status.PENDING)
        customer.refresh_from_db()
        assert customer.lifecycle_stage == S.EXISTING


def test_a_first_purchase_recorded_late_makes_an_existing_customer_at_once(settings, rep, customer):
    long_ago = timezone.now() - timedelta(days=settings.CUSTOMER_EXISTING_AFTER_DAYS + 1)
    make_order(customer, rep, status=Order.Status.COMPLETED, ordered_at=long_ago)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.EXISTING


def test_a_stage_set_by_hand_is_left_alone(rep, manager):
    flagged = CustomerFactory(owner=rep, lifecycle_stage=S.PROSPECT, lifecycle_stage_manual=True)
    edited = CustomerFactory(owner=rep)
    customer_update(customer=edited, user=manager, data={"lifecycle_stage": S.CHURNED})
    for customer in (flagged, edited):
        make_order(customer, rep, status=Order.Status.PAID)
        make_order(customer, rep, status=Order.Status.PAID)
    flagged.refresh_from_db()
    edited.refresh_from_db()
    assert (flagged.lifecycle_stage, flagged.order_count) == (S.PROSPECT, 2)
    assert (edited.lifecycle_stage, edited.lifecycle_stage_manual, edited.order_count) == (S.CHURNED, True, 2)


@pytest.mark.parametrize("stage", [S.NEW, S.EXISTING])
def test_the_stage_never_goes_back_when_orders_are_cancelled_or_refunded(rep, stage):
    customer = CustomerFactory(owner=rep, lifecycle_stage=stage)
    first = make_order(customer, rep, status=Order.Status.PAID)
    second = make_order(customer, rep, status=Order.Status.PAID)
    services.order_set_status(order=first, user=rep, status=Order.Status.CANCELLED)
    services.order_set_status(order=second, user=rep, status=Order.Status.REFUNDED)
    customer.refresh_from_db()
    assert customer.order_count == 0
    assert customer.lifecycle_stage == S.EXISTING  # new → existing on the second purchase, then stays


def test_a_new_customer_whose_only_order_is_cancelled_stays_new(rep, customer):
    order = make_order(customer, rep, status=Order.Status.PAID)
    services.order_set_status(order=order, user=rep, status=Order.Status.CANCELLED)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.NEW and customer.order_count == 0


def test_a_churned_customer_who_buys_again_is_existing(rep):
    customer = CustomerFactory(owner=rep, lifecycle_stage=S.CHURNED)
    make_order(customer, rep, status=Order.Status.COMPLETED, ordered_at=timezone.now() - timedelta(days=400))
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.CHURNED  # recording an old purchase is not coming back
    make_order(customer, rep, status=Order.Status.PAID)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.EXISTING


def test_a_churned_customer_with_a_pending_order_is_not_back_yet(rep):
    customer = CustomerFactory(owner=rep, lifecycle_stage=S.CHURNED)
    make_order(customer, rep, status=Order.Status.COMPLETED, ordered_at=timezone.now() - timedelta(days=400))
    make_order(customer, rep, status=Order.Status.PENDING)
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.CHURNED  # a prospect's pending order does not count either


# --- opportunities and stage history -----------------------------------------------------------


def test_creating_an_opportunity_records_its_first_stage(manager, rep, customer, stages):
    opportunity = make_opportunity(customer, manager)
    change = opportunity.stage_changes.get()
    assert (change.from_stage, change.to_stage, change.changed_by, change.seconds_in_previous) == (
        None,
        stages["Qualification"],
        manager,
        0,
    )
    assert change.changed_at == opportunity.stage_entered_at == opportunity.created_at
    assert opportunity.probability == 10  # the stage's default
    assert (opportunity.owner, opportunity.team, opportunity.closed_at) == (rep, rep.team, None)


def test_a_probability_given_at_creation_is_kept(rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Proposal"], probability=40)
    assert opportunity.probability == 40


def test_a_move_records_from_to_who_and_the_time_spent_in_the_stage_left(rep, manager, customer, stages):
    with time_machine.travel(T0, tick=False) as traveller:
        opportunity = make_opportunity(customer, rep)
        traveller.shift(timedelta(days=3))
        opportunity = services.opportunity_move(
            opportunity=opportunity, stage=stages["Proposal"], user=manager
        )
        traveller.shift(timedelta(hours=5, seconds=7))
        services.opportunity_move(opportunity=opportunity, stage=stages["Negotiation"], user=rep)
    rows = opportunity.stage_changes.values_list(
        "from_stage__name_en",
        "to_stage__name_en",
        "changed_by__username",
        "seconds_in_previous",
        "changed_at",
    )
    assert list(rows) == [
        (None, "Qualification", "rep", 0, T0),
        ("Qualification", "Proposal", "manager", 259200, T0 + timedelta(days=3)),
        ("Proposal", "Negotiation", "rep", 18007, T0 + timedelta(days=3, hours=5, seconds=7)),
    ]
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Negotiation"] and opportunity.probability == 75
    assert (
        opportunity.stage_entered_at
        == opportunity.last_activity_at
        == T0 + timedelta(days=3, hours=5, seconds=7)
    )


def test_won_and_lost_close_the_opportunity_and_reopening_clears_it(rep, customer, stages):
    won = make_opportunity(customer, rep)
    won = services.opportunity_move(opportunity=won, stage=stages["Won"], user=rep)
    assert (won.probability, won.closed_at) == (100, won.stage_entered_at)
    lost = make_opportunity(customer, rep, title="第二单")
    lost = services.opportunity_move(opportunity=lost, stage=stages["Lost"], user=rep, lost_reason="价格太高")
    lost.refresh_from_db()
    assert (lost.probability, lost.lost_reason, lost.closed_at) == (0, "价格太高", lost.stage_entered_at)
    assert not Opportunity.objects.open().exists()
    services.opportunity_move(opportunity=lost, stage=stages["Negotiation"], user=rep)
    lost.refresh_from_db()
    assert lost.closed_at is None and lost.probability == 75


def test_lost_needs_a_reason_and_nothing_changes_without_one(rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    with pytest.raises(ValidationError) as error:
        services.opportunity_move(opportunity=opportunity, stage=stages["Lost"], user=rep)
    assert error.value.code == "lost_reason"
    opportunity.refresh_from_db()
    assert (opportunity.stage, opportunity.probability, opportunity.closed_at) == (
        stages["Qualification"],
        10,
        None,
    )
    assert opportunity.stage_changes.count() == 1


def test_moving_to_the_same_stage_changes_nothing(rep, customer, stages):
    with time_machine.travel(T0, tick=False) as traveller:
        opportunity = make_opportunity(customer, rep)
        traveller.shift(timedelta(days=1))
        services.opportunity_move(opportunity=opportunity, stage=stages["Qualification"], user=rep)
    opportunity.refresh_from_db()
    assert opportunity.stage_changes.count() == 1
    assert opportunity.stage_entered_at == opportunity.last_activity_at == T0


def test_an_inactive_stage_is_refused(rep, customer, stages):
    retired = PipelineStage.objects.create(name="旧阶段", name_en="Retired", order=15, active=False)
    opportunity = make_opportunity(customer, rep)
    with pytest.raises(ValidationError) as error:
        services.opportunity_move(opportunity=opportunity, stage=retired, user=rep)
    assert error.value.code == "inactive_stage"
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Qualification"] and opportunity.stage_changes.count() == 1


def test_an_edit_moves_the_stage_through_the_history(rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    services.opportunity_update(
        opportunity=opportunity, user=rep, data={"next_step": "发报价", "stage": stages["Proposal"]}
    )
    opportunity.refresh_from_db()
    assert (opportunity.next_step, opportunity.stage, opportunity.probability) == (
        "发报价",
        stages["Proposal"],
        50,
    )
    assert opportunity.stage_changes.count() == 2


def test_an_opportunity_cannot_be_created_lost_without_a_reason(rep, customer, stages):
    with pytest.raises(ValidationError):
        make_opportunity(customer, rep, stage=stages["Lost"])


def test_an_opportunity_cannot_be_created_in_an_inactive_stage(rep, customer, stages):
    retired = PipelineStage.objects.create(name="旧阶段", name_en="Retired", order=15, active=False)
    with pytest.raises(ValidationError):
        make_opportunity(customer, rep, stage=retired)


# --- demo data ---------------------------------------------------------------------------------


def test_the_demo_has_orders_opportunities_and_consistent_statistics(stages):
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Order.objects.count(), Opportunity.objects.count(), OpportunityStageChange.objects.count())
    assert counts[0] > 200 and counts[1] > 20
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    for stage in stages.values():
        assert Opportunity.objects.filter(stage=stage).exists(), stage.name_en
    assert not Opportunity.objects.filter(stage=stages["Lost"], lost_reason="").exists()
    assert Opportunity.objects.filter(stage=stages["Won"], order__isnull=False).exists()
    assert OpportunityStageChange.objects.filter(from_stage__isnull=False).exists()

    expected = {
        row["customer"]: row
        for row in Order.objects.counted()
        .values("customer")
        .annotate(count=Count("pk"), spend=Sum("total"), first=Min("ordered_at"), last=Max("ordered_at"))
    }
    for customer in Customer.objects.all():
        row = expected.get(customer.pk, {"count": 0, "spend": Decimal("0.00"), "first": None, "last": None})
        assert (
            customer.order_count,
            customer.total_spend,
            customer.first_purchase_at,
            customer.last_purchase_at,
        ) == (
            row["count"],
            row["spend"],
            row["first"],
            row["last"],
        ), customer.pk
    buyers = Order.objects.filter(status__in=Order.PURCHASED).values("customer")
    assert not Customer.objects.filter(
        pk__in=buyers, lifecycle_stage=S.PROSPECT, lifecycle_stage_manual=False
    ).exists()

    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    assert (
        Order.objects.count(),
        Opportunity.objects.count(),
        OpportunityStageChange.objects.count(),
    ) == counts
