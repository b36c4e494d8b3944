"""Churn warning (流失预警): scores from each customer's own rhythm, reasons on known
histories, the threshold and churn edges, flags cleared by buying again, idempotency, the
VIP managers, the ledger's filter and sort by risk, and a run through a real worker."""

import io
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from core.models import JobRun, Notification
from core.pagination import _order
from crm.celery import app
from customers.filters import CustomerFilter
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from customers.views import SORTS, _list_queryset
from interactions.models import Task, Ticket
from interactions.services import ticket_transition
from interactions.tests.factories import make_ticket
from sales.churn import WIN_BACK_RULE, assess_churn_risk, churn_warnings
from sales.models import ChurnSettings, Order
from sales.services import order_set_status
from sales.tasks import churn_warnings as churn_warnings_task
from sales.tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db

S = Customer.LifecycleStage
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 16, 4, 0, tzinfo=SHANGHAI)  # when the nightly job runs


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def product(db):
    return make_product(name="茶叶", unit_price=Decimal("100.00"))


@pytest.fixture
def english_rep(rep):
    rep.language = "en"
    rep.save(update_fields=["language"])
    return rep


def _config(**values) -> ChurnSettings:
    config = ChurnSettings.current()
    for field, value in values.items():
        setattr(config, field, value)
    config.save()
    return config


def _purchase_gap_only(**values) -> ChurnSettings:
    """Only the overdue-purchase signal counts, so its value is the score."""
    return _config(
        weight_purchase_gap=100,
        weight_interaction_gap=0,
        weight_falling_values=0,
        weight_open_complaints=0,
        **values,
    )


def _customer(
    owner, days_ago, *, product, totals=None, contacted_days_ago=0, user=None, **kwargs
) -> Customer:
    """A customer with one paid order on each of `days_ago` (before NOW), last contacted
    `contacted_days_ago` days ago (None: never)."""
    customer = CustomerFactory(owner=owner, **kwargs)
    totals = totals or [100] * len(days_ago)
    for days, total in zip(days_ago, totals, strict=True):
        make_order(customer, user or owner, [(product, 1, total)], ordered_at=NOW - timedelta(days=days))
    contacted = None if contacted_days_ago is None else NOW - timedelta(days=contacted_days_ago)
    Customer.objects.filter(pk=customer.pk).update(last_contacted_at=contacted)
    customer.refresh_from_db()
    return customer


def _at_risk(owner, *, product, **kwargs) -> Customer:
    """Bought every 30 days, last 94 days ago, no interaction since: 50 + 20 = 70."""
    return _customer(owner, [184, 154, 124, 94], product=product, contacted_days_ago=94, **kwargs)


AT_RISK_REASON = "no order for 94 days; usually orders every 30 days; no interaction for 94 days"


def _warnings(user=None):
    qs = Notification.objects.filter(kind="churn_warning")
    return qs.filter(recipient=user) if user is not None else qs


def _win_back_tasks(customer):
    return Task.objects.filter(rule=WIN_BACK_RULE, customer=customer)


def _assess(days_ago, totals=None, *, contacted_days_ago=0, complaints=0, config=None):
    """The pure assessment of a history (no database)."""
    totals = totals or [100] * len(days_ago)
    return assess_churn_risk(
        purchases=[(NOW - timedelta(days=d), Decimal(t)) for d, t in zip(days_ago, totals, strict=True)],
        last_contact=NOW - timedelta(days=contacted_days_ago),
        open_complaints=complaints,
        today=NOW.date(),
        config=config or ChurnSettings(),
    )


# --- the score and its reason on known histories ------------------------------------------------


def test_a_monthly_buyer_silent_for_94_days_is_flagged_with_the_reason_in_the_owners_language(
    frozen, english_rep, service, product
):
    customer = _customer(english_rep, [184, 154, 124, 94], product=product, contacted_days_ago=60)
    make_ticket(customer, service, subject="包装破损", category=Ticket.Category.COMPLAINT)

    counts = churn_warnings()

    customer.refresh_from_db()
    # Overdue: (94 / 30 − 1) / 2 > 1 → 50 of 50; no interaction: 60 / 90 × 20 = 13.3;
    # one complaint: 0.5 × 15 = 7.5; values steady: 0. 70.83 → 71.
    assert customer.churn_risk_score == 71
    assert customer.churn_risk_reason == (
        "no order for 94 days; usually orders every 30 days; no interaction for 60 days; 1 open complaint"
    )
    assert customer.churn_flagged_at == NOW
    assert counts == {"scored": 1, "flagged": 1, "cleared": 0, "churned": 0}


def test_the_reason_follows_the_owners_language(frozen, rep, product):
    customer = _customer(rep, [184, 154, 124, 94], product=product, contacted_days_ago=60)  # rep: zh-hans
    churn_warnings()
    customer.refresh_from_db()
    with translation.override("en"):
        english = _assess([184, 154, 124, 94], contacted_days_ago=60).reason(ChurnSettings.current())
    with translation.override("zh-hans"):
        chinese = _assess([184, 154, 124, 94], contacted_days_ago=60).reason(ChurnSettings.current())
    # Built in the owner's language (the same words as the English until the zh-hans
    # catalogue translates these strings).
    assert customer.churn_risk_reason == chinese
    assert all(number in chinese for number in ("94", "30", "60"))
    assert english.startswith("no order for 94 days")


def test_the_usual_gap_is_the_median_of_irregular_gaps():
    # Gaps 10, 20, 50, 60 days: the median is 35, whatever the order of the gaps.
    assert _assess([140, 80, 30, 20, 0]).usual_gap == 35
    # An odd number of gaps: the middle one (10, 40, 90 → 40).
    assert _assess([140, 50, 10, 0]).usual_gap == 40
    # Half days are shown rounded half up: gaps 10 and 21 → 15.5 → "every 16 days".
    assessment = _assess([80, 70, 49], contacted_days_ago=0)
    assert assessment.usual_gap == Fraction(31, 2)
    with translation.override("en"):
        assert "usually orders every 16 days" in assessment.reason(ChurnSettings())


def test_orders_on_the_same_day_are_one_purchase():
    assessment = _assess([60, 30, 30, 0])
    assert assessment.usual_gap == 30  # not the median of 30, 0, 30


def test_a_customer_with_one_purchase_is_measured_against_the_default_gap():
    config = ChurnSettings(default_gap_days=90)
    assessment = _assess([200], config=config)
    assert assessment.usual_gap is None
    assert assessment.signals["purchase_gap"] == (Fraction(200, 90) - 1) / 2
    assert assessment.score == 31  # 50 × 0.611 = 30.56
    with translation.override("en"):
        assert assessment.reason(config) == "no order for 200 days; bought only once so far"


@pytest.mark.parametrize(
    ("days_since", "signal"),
    [(30, Fraction(0)), (31, Fraction(1, 60)), (60, Fraction(1, 2)), (90, Fraction(1)), (400, Fraction(1))],
)
def test_the_purchase_signal_starts_after_the_usual_gap_and_is_full_at_three_times_it(days_since, signal):
    assert _assess([days_since + 60, days_since + 30, days_since]).signals["purchase_gap"] == signal


def test_falling_order_values_count_the_last_three_purchases_against_the_earlier_ones():
    # Earlier average 100, recent 60: 40 % lower; half or more would count fully.
    assessment = _assess([150, 120, 90, 60, 30, 0], [100, 100, 100, 60, 60, 60])
    assert assessment.value_drop == Fraction(2, 5)
    assert assessment.signals["falling_values"] == Fraction(4, 5)
    with translation.override("en"):
        assert assessment.reason(ChurnSettings()) == "recent orders 40% below earlier ones"
    assert _assess([150, 120, 90, 60, 30, 0], [100, 100, 100, 20, 20, 20]).signals["falling_values"] == 1
    # Rising values and too short a history (3 purchases) say nothing.
    assert _assess([150, 120, 90, 60, 30, 0], [50, 50, 50, 90, 90, 90]).signals["falling_values"] == 0
    assert _assess([60, 30, 0], [100, 50, 10]).signals["falling_values"] == 0


def test_open_complaint_tickets_count_up_to_two(frozen, rep, service, product):
    _config(
        weight_purchase_gap=0, weight_interaction_gap=0, weight_falling_values=0, weight_open_complaints=100
    )
    customers = [_customer(rep, [30, 0], product=product) for _ in range(4)]
    for customer, count in zip(customers, [0, 1, 2, 3], strict=True):
        for _ in range(count):
            make_ticket(customer, service, category=Ticket.Category.COMPLAINT)
    # Neither a resolved complaint nor an open inquiry counts.
    resolved = make_ticket(customers[0], service, category=Ticket.Category.COMPLAINT)
    ticket_transition(ticket=resolved, to_status=Ticket.Status.RESOLVED, user=service, resolution="已退款")
    make_ticket(customers[0], service, category=Ticket.Category.INQUIRY)

    churn_warnings()

    assert [Customer.objects.get(pk=c.pk).churn_risk_score for c in customers] == [0, 50, 100, 100]


def test_the_reason_leaves_out_signals_that_hardly_count():
    # Contacted 5 days ago: 5 / 90 × 20 = 1.1 points, not worth a mention.
    with translation.override("en"):
        assert _assess([184, 154, 124, 94], contacted_days_ago=5).reason(ChurnSettings()) == (
            "no order for 94 days; usually orders every 30 days"
        )


# --- the threshold and its edges ----------------------------------------------------------------


@pytest.mark.parametrize(("days_since", "score", "flagged"), [(110, 60, True), (109, 59, False)])
def test_a_score_exactly_at_the_threshold_flags_and_one_below_does_not(
    frozen, rep, product, days_since, score, flagged
):
    _purchase_gap_only(threshold=60)
    # Usual gap 50 days: (110 / 50 − 1) / 2 = 0.6 → 60; (109 / 50 − 1) / 2 = 0.59 → 59.
    customer = _customer(rep, [days_since + 50, days_since], product=product)
    churn_warnings()
    customer.refresh_from_db()
    assert customer.churn_risk_score == score
    assert (customer.churn_flagged_at is not None) is flagged
    assert _warnings(rep).exists() is flagged
    assert _win_back_tasks(customer).exists() is flagged
    assert (customer.churn_risk_reason != "") is flagged  # only flagged customers carry a reason


def test_prospects_and_customers_without_a_purchase_are_not_scored(frozen, rep, product):
    prospect = CustomerFactory(owner=rep)
    pending_only = CustomerFactory(owner=rep)
    make_order(
        pending_only, rep, [(product, 1)], status=Order.Status.PENDING, ordered_at=NOW - timedelta(days=400)
    )
    counts = churn_warnings()
    assert counts["scored"] == 0
    assert Customer.objects.filter(pk__in=[prospect.pk, pending_only.pk], churn_risk_score=0).count() == 2


def test_falling_below_the_threshold_clears_the_flag_and_the_reason(frozen, rep, product):
    customer = _at_risk(rep, product=product)
    churn_warnings()
    customer.refresh_from_db()
    assert customer.churn_flagged_at is not None

    _config(threshold=90)
    counts = churn_warnings()

    customer.refresh_from_db()
    assert counts["cleared"] == 1
    assert (customer.churn_flagged_at, customer.churn_risk_reason) == (None, "")
    assert customer.churn_risk_score == 70  # still scored, no longer flagged


# --- announcements: owner, VIP managers, win-back task -------------------------------------------


def test_the_owner_is_told_once_and_gets_one_win_back_task(frozen, english_rep, product):
    customer = _at_risk(english_rep, product=product, name="Acme Tea")
    first = churn_warnings()
    second = churn_warnings()

    assert first["flagged"] == 1 and second["flagged"] == 0
    warning = _warnings(english_rep).get()
    assert warning.title == "Churn warning: Acme Tea"
    assert warning.body == AT_RISK_REASON
    assert warning.url == f"/customers/{customer.pk}/"
    task = _win_back_tasks(customer).get()
    assert (task.assignee, task.title, task.origin) == (
        english_rep,
        "Win back Acme Tea",
        Task.Origin.AUTOMATIC,
    )
    assert task.due_at == NOW + timedelta(days=ChurnSettings.current().win_back_task_due_days)
    # The second run wrote nothing: the flag keeps its first time.
    customer.refresh_from_db()
    assert customer.churn_flagged_at == NOW


def test_the_second_run_changes_no_row(frozen, rep, product):
    for _ in range(3):
        _at_risk(rep, product=product)
    churn_warnings()
    with CaptureQueriesContext(connection) as ctx:
        churn_warnings()
    assert not [q for q in ctx.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]


def test_managers_of_the_team_hear_of_a_vip_at_risk(frozen, rep, manager, other_manager, product):
    vip = _at_risk(rep, product=product, value_tier=Customer.ValueTier.VIP)
    regular = _at_risk(rep, product=product)
    churn_warnings()
    assert list(_warnings(manager).values_list("url", flat=True)) == [f"/customers/{vip.pk}/"]
    assert not _warnings(other_manager).exists()
    assert _warnings(rep).count() == 2
    assert _win_back_tasks(regular).count() == 1


def test_customers_without_owner_are_flagged_but_nobody_is_told(frozen, rep, product):
    customer = _at_risk(None, product=product, user=rep)
    churn_warnings()
    customer.refresh_from_db()
    assert customer.churn_flagged_at is not None
    assert not _warnings().exists()
    assert not _win_back_tasks(customer).exists()


# --- buying again, and churned after a while -------------------------------------------------


def test_buying_again_clears_the_flag_at_once(frozen, rep, product):
    customer = _at_risk(rep, product=product)
    churn_warnings()
    frozen.shift(timedelta(days=2))

    # A pending order is not a purchase yet; paying for it is.
    order = make_order(customer, rep, [(product, 1)], status=Order.Status.PENDING)
    customer.refresh_from_db()
    assert customer.churn_flagged_at is not None
    order_set_status(order=order, user=rep, status=Order.Status.PAID)

    customer.refresh_from_db()
    assert (customer.churn_flagged_at, customer.churn_risk_score, customer.churn_risk_reason) == (None, 0, "")
    counts = churn_warnings()
    customer.refresh_from_db()
    assert customer.churn_flagged_at is None and counts["flagged"] == 0
    assert _warnings(rep).count() == 1


def test_a_customer_flagged_for_exactly_n_days_becomes_churned(frozen, rep, product):
    _config(churned_after_days=90)
    customer = _at_risk(rep, product=product)
    churn_warnings()
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == S.EXISTING

    frozen.shift(timedelta(days=89))
    assert churn_warnings()["churned"] == 0
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == S.EXISTING

    frozen.shift(timedelta(days=1))
    assert churn_warnings()["churned"] == 1
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == S.CHURNED
    assert churn_warnings()["churned"] == 0  # already churned


def test_a_lifecycle_stage_set_by_hand_is_left_alone(frozen, rep, product):
    _config(churned_after_days=0)
    customer = _at_risk(rep, product=product)
    Customer.objects.filter(pk=customer.pk).update(lifecycle_stage=S.NEW, lifecycle_stage_manual=True)
    assert churn_warnings()["churned"] == 0
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.NEW
    assert customer.churn_flagged_at is not None  # warned all the same


def test_a_churned_customer_who_buys_again_is_existing_and_unflagged(frozen, rep, product):
    _config(churned_after_days=0)
    customer = _at_risk(rep, product=product)
    churn_warnings()
    frozen.shift(timedelta(days=1))
    make_order(customer, rep, [(product, 1)])
    customer.refresh_from_db()
    assert customer.lifecycle_stage == S.EXISTING
    assert customer.churn_flagged_at is None


# --- the job: batches, queries, record, command, schedule -----------------------------------------


def test_batches_cover_every_customer(frozen, rep, product):
    made = [_at_risk(rep, product=product) for _ in range(5)]
    counts = churn_warnings(batch_size=2)
    assert counts == {"scored": 5, "flagged": 5, "cleared": 0, "churned": 0}
    assert Customer.objects.filter(pk__in=[c.pk for c in made], churn_flagged_at__isnull=False).count() == 5


def test_the_queries_of_a_batch_do_not_grow_with_its_customers(frozen, rep, product):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            churn_warnings()
        return len(ctx.captured_queries)

    _customer(rep, [60, 30, 0], product=product)
    churn_warnings()
    one = queries()
    for _ in range(4):
        _customer(rep, [60, 30, 0], product=product)
    churn_warnings()
    assert queries() == one


def test_the_rhythm_is_read_from_the_last_25_purchases(frozen, rep, product):
    _purchase_gap_only()
    # Thirty orders ten days apart long ago, then 25 a month apart, the last 45 days ago.
    # All of them would make the usual gap 10 days (fully overdue: 100); the recent 25 make
    # it 30: (45 / 30 − 1) / 2 = 0.25.
    days = [2000 - 10 * i for i in range(30)] + [45 + 30 * i for i in reversed(range(25))]
    customer = _customer(rep, days, product=product)
    churn_warnings()
    customer.refresh_from_db()
    assert customer.churn_risk_score == 25


def test_the_command_and_the_task_write_a_job_run_record(frozen, rep, product):
    _at_risk(rep, product=product)
    out = io.StringIO()
    call_command("churn_warnings", stdout=out)
    assert out.getvalue().strip() == "scored=1 flagged=1 cleared=0 churned=0"
    churn_warnings_task.delay().get()
    runs = list(JobRun.objects.filter(name="churn_warnings").order_by("pk"))
    assert [r.status for r in runs] == [JobRun.Status.SUCCEEDED, JobRun.Status.SUCCEEDED]
    assert runs[0].counts == {"scored": 1, "flagged": 1, "cleared": 0, "churned": 0}
    assert runs[1].counts["flagged"] == 0


def test_the_job_is_in_the_beat_schedule():
    assert settings.CELERY_BEAT_SCHEDULE["churn-warnings"]["task"] == "sales.tasks.churn_warnings"


# --- the ledger: filter and sort by risk, badge and banner ------------------------------------------


@pytest.fixture
def scored(rep):
    """Three customers of the rep: flagged at 80, scored 30, never scored."""
    high = CustomerFactory(name="高风险", owner=rep)
    medium = CustomerFactory(name="中风险", owner=rep)
    CustomerFactory(name="无风险", owner=rep)
    Customer.objects.filter(pk=high.pk).update(
        churn_risk_score=80, churn_flagged_at=timezone.now(), churn_risk_reason="no order for 94 days"
    )
    Customer.objects.filter(pk=medium.pk).update(churn_risk_score=30)
    return high


def _names(response) -> list[str]:
    return [c.name for c in response.context["page"].object_list]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("sort=-risk", ["高风险", "中风险", "无风险"]),
        ("sort=risk", ["无风险", "中风险", "高风险"]),
        ("churn_warning=on", ["高风险"]),
        ("churn_risk_min=30&sort=-risk", ["高风险", "中风险"]),
    ],
)
def test_the_ledger_filters_and_sorts_by_churn_risk(client, rep, scored, query, names):
    client.force_login(rep)
    assert _names(client.get(f"/customers/?{query}")) == names


def test_filtering_and_sorting_by_risk_costs_no_extra_query(client, rep, scored):
    client.force_login(rep)
    client.get("/customers/")  # warm caches (content types, ...)
    with CaptureQueriesContext(connection) as plain:
        client.get("/customers/")
    with CaptureQueriesContext(connection) as by_risk:
        response = client.get("/customers/?sort=-risk&churn_warning=on&churn_risk_min=10")
    assert len(by_risk.captured_queries) == len(plain.captured_queries)
    body = response.content.decode()
    assert 'title="no order for 94 days"' in body  # the badge explains the score


def test_the_customer_page_shows_the_warning_with_its_reason(client, rep, scored):
    client.force_login(rep)
    body = client.get(f"/customers/{scored.pk}/").content.decode()
    assert 'data-testid="churn-banner"' in body and "no order for 94 days" in body
    other = Customer.objects.exclude(pk=scored.pk).first()
    assert 'data-testid="churn-banner"' not in client.get(f"/customers/{other.pk}/").content.decode()


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "params", [{"sort": "-risk"}, {"sort": "risk"}, {"churn_risk_min": "60", "sort": "-risk"}]
)
def test_the_risk_sort_and_filter_use_the_churn_index(admin_user, scored, params):
    request = RequestFactory().get("/customers/", params)
    option = SORTS[params["sort"]]
    qs = CustomerFilter(request.GET, queryset=_list_queryset(admin_user), user=admin_user).qs
    plan = _plan(qs.prefetch_related(None).order_by(*_order(option, option.descending))[:51])
    assert "cust_churn_risk_idx" in plan, plan


# --- through a real worker --------------------------------------------------------------------


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
def test_the_job_run_twice_through_a_real_worker_warns_once(real_worker, rep):
    product = make_product()
    now = timezone.now()
    customer = CustomerFactory(owner=rep)
    for days in (184, 154, 124, 94):
        make_order(customer, rep, [(product, 1)], ordered_at=now - timedelta(days=days))
    Customer.objects.filter(pk=customer.pk).update(last_contacted_at=now - timedelta(days=94))
    first = churn_warnings_task.delay().get(timeout=30)
    second = churn_warnings_task.delay().get(timeout=30)
    assert first["flagged"] == 1 and second["flagged"] == 0
    assert _warnings(rep).count() == 1
    assert _win_back_tasks(customer).count() == 1
    assert JobRun.objects.filter(name="churn_warnings", status=JobRun.Status.SUCCEEDED).count() == 2


def test_buying_again_closes_the_open_win_back_task(rep):
    from interactions.models import Task
    from interactions.services import task_create_for_rule
    from sales.models import Order
    from sales.tests.factories import make_order

    customer = CustomerFactory(name="回头客", owner=rep)
    Customer.objects.filter(pk=customer.pk).update(
        churn_flagged_at=timezone.now() - timedelta(days=3), churn_risk_score=80, churn_risk_reason="x"
    )
    task_create_for_rule(
        rule="churn_win_back",
        rule_key="churn:test",
        assignee=rep,
        title="挽回",
        due_at=timezone.now(),
        customer=customer,
    )
    make_order(customer, rep, status=Order.Status.PAID)
    customer.refresh_from_db()
    assert customer.churn_flagged_at is None
    assert Task.objects.get(rule="churn_win_back").status == "done"
