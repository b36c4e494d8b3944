"""Care reminders (客户关怀): greeting tasks for birthdays and customer anniversaries exactly
CARE_REMINDER_DAYS_AHEAD days ahead, 29 February, opted-out customers, idempotency, and
the daily job through its command and a real Celery worker."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from core.models import JobRun, Notification
from core.tests.factories import UserFactory
from crm.celery import app
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.care import birth_dates_for, care_reminders
from interactions.models import Task
from interactions.tasks import care_reminders as care_reminders_task

pytestmark = pytest.mark.django_db

# 2026-06-10 08:00 in Shanghai; three days ahead is 13 June.
T0 = datetime(2026, 6, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def three_days_ahead(settings):
    settings.CARE_REMINDER_DAYS_AHEAD = 3


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False):
        yield


def _first_purchase(customer, local: datetime):
    Customer.objects.filter(pk=customer.pk).update(first_purchase_at=timezone.make_aware(local))


def _greeted(rule: str) -> set[str]:
    return set(Task.objects.filter(rule=rule).values_list("customer__name", flat=True))


def test_birthdays_exactly_n_days_ahead_get_a_task_for_the_owner(frozen, rep):
    for name, birthday in {
        "正好三天后": date(1990, 6, 13),
        "两天后": date(1990, 6, 12),
        "四天后": date(1990, 6, 14),
        "去年出生": date(2025, 6, 13),
    }.items():
        CustomerFactory(name=name, owner=rep, birthday=birthday)
    counts = care_reminders()
    assert _greeted("care_birthday") == {"正好三天后", "去年出生"}
    assert counts == {"birthdays": 2, "anniversaries": 0, "tasks": 2}
    task = Task.objects.get(customer__name="正好三天后")
    assert task.assignee == rep and task.origin == Task.Origin.AUTOMATIC
    assert timezone.localtime(task.due_at) == timezone.make_aware(datetime(2026, 6, 13, 9, 0))


def test_the_days_ahead_are_configurable(frozen, rep, settings):
    CustomerFactory(name="今天生日", owner=rep, birthday=date(1990, 6, 10))
    CustomerFactory(name="三天后生日", owner=rep, birthday=date(1990, 6, 13))
    settings.CARE_REMINDER_DAYS_AHEAD = 0
    care_reminders()
    assert _greeted("care_birthday") == {"今天生日"}


def test_anniversaries_of_the_first_purchase_by_the_local_calendar(frozen, rep):
    cases = {
        "一年前": datetime(2025, 6, 13, 15, 0),
        "清晨下单": datetime(2024, 6, 13, 0, 30),  # still 12 June in UTC
        "次日凌晨": datetime(2024, 6, 14, 0, 30),  # 13 June in UTC only
        "前一天": datetime(2025, 6, 12, 15, 0),
        "第二天": datetime(2025, 6, 14, 15, 0),
    }
    for name, first in cases.items():
        _first_purchase(CustomerFactory(name=name, owner=rep), first)
    CustomerFactory(name="从未购买", owner=rep)
    counts = care_reminders()
    assert _greeted("care_anniversary") == {"一年前", "清晨下单"}
    assert counts == {"birthdays": 0, "anniversaries": 2, "tasks": 2}


def test_opted_out_unowned_and_deleted_customers_get_nothing(frozen, rep):
    birthday = date(1990, 6, 13)
    CustomerFactory(name="不要关怀", owner=rep, birthday=birthday, care_opt_out=True)
    CustomerFactory(name="无负责人", owner=None, birthday=birthday)
    deleted = CustomerFactory(name="已删除", owner=rep, birthday=birthday)
    Customer.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    gone = UserFactory(username="gone", is_active=False)
    CustomerFactory(name="负责人已离职", owner=gone, birthday=birthday)
    opted_out = CustomerFactory(name="不要周年关怀", owner=rep, care_opt_out=True)
    _first_purchase(opted_out, datetime(2025, 6, 13, 12, 0))
    assert care_reminders() == {"birthdays": 0, "anniversaries": 0, "tasks": 0}
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("today", "greeted"),
    [
        (date(2027, 2, 25), {"2月28日", "2月29日"}),  # common year: the 29th on the 28th
        (date(2028, 2, 25), {"2月28日"}),  # leap year: each on their own day
        (date(2028, 2, 26), {"2月29日"}),
        (date(2027, 2, 26), set()),  # 1 March of a common year is not the 29th's day
    ],
)
def test_a_29_february_birthday_is_greeted_on_28_february_in_common_years(rep, today, greeted):
    CustomerFactory(name="2月28日", owner=rep, birthday=date(1990, 2, 28))
    CustomerFactory(name="2月29日", owner=rep, birthday=date(1992, 2, 29))
    care_reminders(today=today)
    assert _greeted("care_birthday") == greeted


def test_a_first_purchase_on_29_february_has_its_anniversary_on_28_february(rep):
    customer = CustomerFactory(name="闰日首单", owner=rep)
    _first_purchase(customer, datetime(2024, 2, 29, 12, 0))
    care_reminders(today=date(2027, 2, 25))
    task = Task.objects.get(rule="care_anniversary")
    assert task.rule_key == f"care_anniversary:{customer.pk}:2027-02-28"
    assert "3 周年" in task.title or "3 years" in task.title


def test_birth_dates_cover_every_year_and_only_real_dates():
    dates = birth_dates_for(date(2027, 2, 28))
    assert date(1900, 2, 28) in dates and date(2026, 2, 28) in dates and date(2027, 2, 28) not in dates
    assert date(2024, 2, 29) in dates and date(1900, 2, 28) in dates
    assert all(d.month == 2 and d.day in (28, 29) for d in dates)


def test_twice_makes_one_task_and_one_notification_per_occasion(
    frozen, rep, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(name="王小明", owner=rep, birthday=date(1990, 6, 13))
    _first_purchase(customer, datetime(2023, 6, 13, 10, 0))
    with django_capture_on_commit_callbacks(execute=True):
        first = care_reminders()
    with django_capture_on_commit_callbacks(execute=True):
        second = care_reminders()
    assert first == {"birthdays": 1, "anniversaries": 1, "tasks": 2}
    assert second == {"birthdays": 1, "anniversaries": 1, "tasks": 0}
    assert Task.objects.count() == 2
    assert Notification.objects.filter(recipient=rep).count() == 2
    # Next year's birthday is another occasion.
    with time_machine.travel(T0 + timedelta(days=365), tick=False):
        care_reminders()
    assert Task.objects.filter(rule="care_birthday").count() == 2


def test_the_task_and_its_notice_are_in_the_owners_language(
    frozen, rep, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_EMAIL_ENABLED = True
    rep.language = "en"
    rep.email = "rep@example.com"
    rep.save()
    customer = CustomerFactory(name="王小明", owner=rep, birthday=date(1990, 6, 13))
    _first_purchase(customer, datetime(2024, 6, 13, 10, 0))
    with django_capture_on_commit_callbacks(execute=True):
        care_reminders()
    titles = sorted(Task.objects.values_list("title", flat=True))
    assert titles == [
        "Birthday of 王小明 on June 13: send a greeting",
        "王小明 has been a customer for 2 years on June 13: send a greeting",
    ]
    notification = Notification.objects.filter(recipient=rep).first()
    assert notification.kind == "task_assigned" and "王小明" in notification.title
    assert len(mailoutbox) == 2 and mailoutbox[0].to == ["rep@example.com"]


def test_a_chinese_title_by_default(frozen, rep):
    CustomerFactory(name="王小明", owner=rep, birthday=date(1990, 6, 13))
    care_reminders()
    title = Task.objects.get().title
    assert "王小明" in title and "13日" in title


# --- the job -----------------------------------------------------------------------------------


def test_the_command_catches_up_a_missed_day_and_the_task_writes_job_runs(frozen, rep):
    CustomerFactory(name="昨天该提醒", owner=rep, birthday=date(1990, 6, 12))
    CustomerFactory(name="今天该提醒", owner=rep, birthday=date(1990, 6, 13))
    call_command("care_reminders", "--date", "2026-06-09", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert care_reminders_task.delay().get() == {"birthdays": 1, "anniversaries": 0, "tasks": 1}
    assert _greeted("care_birthday") == {"昨天该提醒", "今天该提醒"}
    runs = list(JobRun.objects.filter(name="care_reminders").values_list("status", flat=True))
    assert runs == ["succeeded", "succeeded"]


def test_the_job_is_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["care-reminders"]
    assert entry["task"] == "interactions.tasks.care_reminders"


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
def test_the_job_run_twice_through_a_real_worker_makes_one_task(real_worker, rep):
    birthday = (timezone.localdate() + timedelta(days=3)).replace(year=1992)  # a leap year
    customer = CustomerFactory(name="王小明", owner=rep, birthday=birthday)
    first = care_reminders_task.delay().get(timeout=30)
    second = care_reminders_task.delay().get(timeout=30)
    assert (first["tasks"], second["tasks"]) == (1, 0)
    assert Task.objects.filter(customer=customer, rule="care_birthday").count() == 1
    assert Notification.objects.filter(recipient=rep).count() == 1
    assert JobRun.objects.filter(name="care_reminders", status="succeeded").count() == 2
