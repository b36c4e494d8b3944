"""Value tiers (客户分层): RFM scores, tiers and ABC classes on a known data set, the edges
of the window, manual overrides, the tier-change record, idempotency, and the nightly job
through its command and a real Celery worker."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from core.models import JobRun, Notification
from crm.celery import app
from customers.models import Customer, TierChange
from customers.tests.factories import CustomerFactory
from sales.models import Order, TierSettings
from sales.scoring import AbcLines, Quintiles, customers_score
from sales.tasks import score_customers
from sales.tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db

# 2026-03-02 10:00 in Shanghai.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def product(db):
    return make_product(unit_price=Decimal("100.00"))


def _buy(customer, user, product, amount, days_ago: float, status=Order.Status.PAID):
    return make_order(
        customer, user, [(product, 1, amount)], status=status, ordered_at=T0 - timedelta(days=days_ago)
    )


def _state(customer) -> tuple[str, str, str]:
    customer.refresh_from_db()
    return customer.rfm_score, customer.value_tier, customer.abc_class


# --- the scales on their own ---------------------------------------------------------------


def _quintiles(values) -> Quintiles:
    scale = Quintiles(len(values))
    for value in sorted(values):
        scale.add(value)
    return scale


def test_ten_distinct_values_fall_two_to_a_quintile():
    scale = _quintiles(range(1, 11))
    assert [scale.score(v) for v in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_equal_values_share_the_lowest_quintile_that_holds_them():
    scale = _quintiles([1] * 8 + [2, 3])  # most customers bought once
    assert (scale.score(1), scale.score(2), scale.score(3)) == (1, 5, 5)


def test_with_fewer_than_five_buyers_the_best_still_scores_5():
    assert _quintiles([10]).score(10) == 5
    scale = _quintiles([10, 20, 30])
    assert [scale.score(v) for v in (10, 20, 30)] == [2, 4, 5]


def _abc(revenues, a=80, b=15) -> list[str]:
    lines = AbcLines(sum(revenues, Decimal("0")), a, b)
    for revenue in sorted(revenues):
        lines.add(revenue)
    return [lines.classify(r) for r in revenues]


def test_class_a_is_the_fewest_top_customers_making_the_a_share():
    # 90 alone is 90% of the revenue: A on its own, and the rest (10%) is within B's 15%.
    assert _abc([Decimal(90), Decimal(10)]) == ["A", "B"]
    # The customer who crosses 80% belongs to A; the one crossing 95% to B.
    revenues = [Decimal(v) for v in (40, 30, 15, 10, 5)]
    assert _abc(revenues) == ["A", "A", "A", "B", "C"]


def test_abc_edges_no_revenue_and_equal_revenue():
    assert _abc([Decimal(0), Decimal(0)]) == ["C", "C"]
    assert _abc([Decimal(50), Decimal(50)]) == ["A", "A"]  # equal revenue, equal class
    assert _abc([Decimal(60), Decimal(40)], a=0, b=0) == ["C", "C"]


# --- the job on a known data set ---------------------------------------------------------------


@pytest.fixture
def known(frozen, rep, product):
    """Ten buyers c1..c10: c_i last bought (11 - i) × 10 days ago for 100 × i yuan; c9 and c10
    also bought earlier (2 and 3 orders, 900 and 1,200 yuan in all). Around them: customers
    without purchases in the window, and a deleted big spender who must not count."""
    buyers = {}
    for i in range(1, 9):
        buyers[i] = CustomerFactory(name=f"c{i}", owner=rep)
        _buy(buyers[i], rep, product, 100 * i, days_ago=(11 - i) * 10)
    buyers[9] = CustomerFactory(name="c9", owner=rep)
    _buy(buyers[9], rep, product, 450, days_ago=200)
    _buy(buyers[9], rep, product, 450, days_ago=20)
    buyers[10] = CustomerFactory(name="c10", owner=rep)
    for days_ago in (300, 100, 10):
        _buy(buyers[10], rep, product, 400, days_ago=days_ago)
    others = {
        "never": CustomerFactory(name="从未购买", owner=rep),
        "long_ago": CustomerFactory(name="一年多以前", owner=rep),
        "cancelled": CustomerFactory(name="取消的订单", owner=rep),
        "pending": CustomerFactory(name="未付款", owner=rep),
    }
    _buy(others["long_ago"], rep, product, 5000, days_ago=400)
    _buy(others["cancelled"], rep, product, 5000, days_ago=5, status=Order.Status.CANCELLED)
    _buy(others["pending"], rep, product, 5000, days_ago=5, status=Order.Status.PENDING)
    deleted = CustomerFactory(name="已删除", owner=rep)
    _buy(deleted, rep, product, 100000, days_ago=1)
    Customer.objects.filter(pk=deleted.pk).update(deleted_at=T0)
    return buyers, others, deleted


def test_rfm_scores_tiers_and_abc_classes_of_a_known_data_set(known):
    buyers, others, deleted = known
    counts = customers_score()
    # F: eight customers bought once (F=1), c9 and c10 more often (F=5).
    # ABC over 5,700 yuan: c5..c10 make the top 80%, c2..c4 the next 15%, c1 the rest.
    expected = {
        1: ("111", "dormant", "C"),
        2: ("111", "dormant", "B"),
        3: ("212", "potential", "B"),
        4: ("212", "potential", "B"),
        5: ("313", "active", "A"),
        6: ("313", "active", "A"),
        7: ("414", "active", "A"),
        8: ("414", "active", "A"),
        9: ("555", "vip", "A"),
        10: ("555", "vip", "A"),
    }
    assert {i: _state(c) for i, c in buyers.items()} == expected
    for customer in others.values():
        assert _state(customer) == ("", "dormant", "")
    assert _state(deleted) == ("", "potential", "")  # in the recycle bin: left alone
    # Everyone started as "potential": c3 and c4 stay, the other 12 live customers move.
    assert counts == {"scored": 14, "tier_changes": 12, "abc_changes": 10}


def test_every_tier_change_is_recorded_once_and_a_second_run_changes_nothing(known):
    buyers, others, _deleted = known
    customers_score()
    changes = TierChange.objects.filter(source=TierChange.Source.JOB)
    assert changes.count() == 12
    vip = changes.get(customer=buyers[10])
    assert (vip.changed_on.isoformat(), vip.from_tier, vip.to_tier) == ("2026-03-02", "potential", "vip")
    assert not changes.filter(customer__in=[buyers[3], buyers[4]]).exists()

    assert customers_score() == {"scored": 14, "tier_changes": 0, "abc_changes": 0}
    assert changes.count() == 12


def test_customers_who_stop_buying_drift_to_dormant(known):
    buyers, _others, _deleted = known
    customers_score()
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        counts = customers_score()
    assert all(_state(c) == ("", "dormant", "") for c in buyers.values())
    assert counts["tier_changes"] == 8  # all but c1 and c2, dormant already
    moves = TierChange.objects.filter(customer=buyers[10]).order_by("changed_on")
    assert [(m.changed_on.isoformat(), m.from_tier, m.to_tier) for m in moves] == [
        ("2026-03-02", "potential", "vip"),
        ("2027-04-06", "vip", "dormant"),
    ]


def test_the_window_starts_at_midnight_window_days_ago(frozen, rep, product):
    TierSettings.current()  # defaults: 365 days
    inside = CustomerFactory(name="窗口第一天", owner=rep)
    outside = CustomerFactory(name="窗口前一天", owner=rep)
    # 2025-03-02 00:30 and 2025-03-01 23:30 in Shanghai.
    make_order(inside, rep, [(product, 1)], ordered_at=datetime(2025, 3, 1, 16, 30, tzinfo=UTC))
    make_order(outside, rep, [(product, 1)], ordered_at=datetime(2025, 3, 1, 15, 30, tzinfo=UTC))
    customers_score()
    assert _state(inside) == ("555", "vip", "A")  # the only buyer: best on every measure
    assert _state(outside) == ("", "dormant", "")


def test_the_thresholds_come_from_the_settings(known):
    buyers, _others, _deleted = known
    TierSettings.current()
    TierSettings.objects.update(vip_min_rfm_sum=9, active_min_recency=2, dormant_max_recency=0)
    customers_score()
    assert [_state(buyers[i])[1] for i in (1, 3, 5, 7, 9)] == ["potential", "active", "active", "vip", "vip"]


# --- manual overrides --------------------------------------------------------------------------


def test_a_tier_and_a_class_set_by_hand_stay_while_the_rfm_score_is_kept(frozen, rep, product):
    manual = CustomerFactory(name="手动", owner=rep, value_tier="vip", value_tier_manual=True)
    fixed_class = CustomerFactory(name="手动ABC", owner=rep, abc_class="C", abc_class_manual=True)
    _buy(manual, rep, product, 100, days_ago=300)
    _buy(fixed_class, rep, product, 10000, days_ago=1)
    counts = customers_score()
    # Two buyers: the lower place scores 3 (5 × 1/2, rounded up), the top 5; equal
    # frequencies share the lower place. 10,000 of 10,100 yuan alone is class A.
    assert _state(manual) == ("333", "vip", "C")
    assert _state(fixed_class) == ("535", "vip", "C")
    assert not TierChange.objects.filter(customer=manual).exists()
    assert counts == {"scored": 2, "tier_changes": 1, "abc_changes": 1}


def _edit(client, customer, **changes):
    data = {"kind": "individual", "name": customer.name, "lifecycle_stage": customer.lifecycle_stage}
    data["value_tier"] = customer.value_tier
    data.update(changes)
    return client.post(f"/customers/{customer.pk}/edit/", data)


def test_changing_the_tier_by_hand_records_it_and_keeps_it_from_the_job(client, frozen, rep, product):
    customer = CustomerFactory(name="王小明", owner=rep)
    _buy(customer, rep, product, 100, days_ago=300)
    client.force_login(rep)
    assert _edit(client, customer, value_tier="active").status_code == 302
    customer.refresh_from_db()
    assert customer.value_tier == "active" and customer.value_tier_manual
    change = TierChange.objects.get(customer=customer)
    assert (change.from_tier, change.to_tier, change.source) == ("potential", "active", "manual")
    customers_score()  # would make the only buyer VIP
    assert _state(customer) == ("555", "active", "A")
    assert TierChange.objects.filter(customer=customer).count() == 1


def test_saving_the_form_without_changing_the_tier_records_nothing(client, frozen, rep):
    customer = CustomerFactory(name="王小明", owner=rep, value_tier="active")
    client.force_login(rep)
    assert _edit(client, customer, title="总经理").status_code == 302
    customer.refresh_from_db()
    assert not customer.value_tier_manual and not TierChange.objects.exists()


def test_unticking_set_by_hand_hands_the_tier_back_to_the_job(client, frozen, rep, product):
    customer = CustomerFactory(name="王小明", owner=rep, value_tier="vip", value_tier_manual=True)
    client.force_login(rep)
    assert _edit(client, customer).status_code == 302  # the box is not ticked
    customers_score()
    assert _state(customer) == ("", "dormant", "")
    assert TierChange.objects.get(customer=customer).source == "job"


def test_the_opt_out_of_care_messages_is_on_the_form(client, frozen, rep):
    customer = CustomerFactory(name="王小明", owner=rep)
    client.force_login(rep)
    assert 'name="care_opt_out"' in client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert _edit(client, customer, care_opt_out="on").status_code == 302
    customer.refresh_from_db()
    assert customer.care_opt_out


# --- notices -----------------------------------------------------------------------------------


def test_owners_hear_once_a_night_about_new_vips_and_dormant_customers(known, rep, teammate, product):
    rep.language = "en"
    rep.save()
    customers_score()
    customers_score()
    notification = Notification.objects.get(recipient=rep, kind="value_tier_changes")
    # c9, c10 became VIP; c1, c2 and the four without purchases in the window, dormant.
    assert notification.title == "Value tiers of your customers: 2 new VIP, 6 now dormant"
    assert notification.url == "/customers/?value_tier=vip"
    assert not Notification.objects.filter(recipient=teammate).exists()


# --- the job -----------------------------------------------------------------------------------


def test_the_command_and_the_task_write_job_runs(frozen, rep, product):
    customer = CustomerFactory(name="王小明", owner=rep)
    _buy(customer, rep, product, 100, days_ago=1)
    call_command("score_customers", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert score_customers.delay().get() == {"scored": 1, "tier_changes": 0, "abc_changes": 0}
    runs = list(JobRun.objects.filter(name="score_customers").values_list("status", "counts"))
    assert runs == [
        ("succeeded", {"scored": 1, "tier_changes": 0, "abc_changes": 0}),
        ("succeeded", {"scored": 1, "tier_changes": 1, "abc_changes": 1}),
    ]


def test_the_job_is_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["score-customers"]
    assert entry["task"] == "sales.tasks.score_customers"


@pytest.fixture
def real_worker():
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://")
    old = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=broker, result_backend=broker)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app
    app.conf.update(old)


@pytest.mark.django_db(transaction=True)
def test_the_job_run_twice_through_a_real_worker_records_one_change(real_worker, rep):
    customer = CustomerFactory(name="王小明", owner=rep)
    make_order(customer, rep, [(make_product(), 1)], ordered_at=timezone.now() - timedelta(days=1))
    first = score_customers.delay().get(timeout=60)
    second = score_customers.delay().get(timeout=60)
    assert first == {"scored": 1, "tier_changes": 1, "abc_changes": 1}
    assert second == {"scored": 1, "tier_changes": 0, "abc_changes": 0}
    assert TierChange.objects.filter(customer=customer).count() == 1
    assert JobRun.objects.filter(name="score_customers", status="succeeded").count() == 2
