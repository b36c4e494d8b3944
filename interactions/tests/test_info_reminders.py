"""Information-update reminders (资料更新提醒): one "verify details" task per due customer."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import JobRun
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.jobs import info_update_reminders
from interactions.models import Task
from interactions.services import task_complete
from interactions.tasks import info_update_reminders as info_update_reminders_task

pytestmark = pytest.mark.django_db


def _verified(customer, days_ago: float, now):
    Customer.objects.filter(pk=customer.pk).update(info_verified_at=now - timedelta(days=days_ago))


@pytest.fixture
def now():
    return timezone.now()


def test_selection_at_the_edges_with_per_tier_periods(rep, now, settings):
    settings.CUSTOMER_INFO_STALE_DAYS = 90
    settings.CUSTOMER_INFO_STALE_DAYS_BY_TIER = {"vip": 30}
    cases = {
        "正好 90 天": (89.99, "potential", False),
        "超过 90 天": (90.01, "potential", True),
        "VIP 31 天": (31, "vip", True),
        "VIP 29 天": (29, "vip", False),
        "从未核实": (None, "active", True),
    }
    for name, (days, tier, _due) in cases.items():
        customer = CustomerFactory(name=name, owner=rep, value_tier=tier)
        if days is None:
            Customer.objects.filter(pk=customer.pk).update(info_verified_at=None)
        else:
            _verified(customer, days, now)
    unowned = CustomerFactory(name="无负责人", owner=None)
    Customer.objects.filter(pk=unowned.pk).update(info_verified_at=None)  # no owner: no task
    info_update_reminders(now=now)
    got = set(Task.objects.filter(rule="info_update").values_list("customer__name", flat=True))
    assert got == {name for name, (_d, _t, due) in cases.items() if due}
    assert all(t.assignee == rep and t.origin == "automatic" for t in Task.objects.all())
    # The list's "stale" filter agrees with the job.
    assert set(Customer.objects.stale(now).values_list("name", flat=True)) >= got


def test_never_a_second_task_while_one_is_open_and_a_new_one_after_verification(rep, now):
    customer = CustomerFactory(name="老客户", owner=rep)
    _verified(customer, 100, now)
    info_update_reminders(now=now)
    info_update_reminders(now=now)
    assert Task.objects.filter(rule="info_update").count() == 1
    # Completing the task confirms the details...
    task = Task.objects.get()
    task_complete(task=task, user=rep)
    customer.refresh_from_db()
    assert customer.info_verified_at > now - timedelta(minutes=1)
    info_update_reminders(now=now)
    assert Task.objects.filter(rule="info_update").count() == 1
    # ...and a quarter later a new task comes.
    later = now + timedelta(days=95)
    info_update_reminders(now=later)
    assert Task.objects.filter(rule="info_update").count() == 2


def test_verifying_on_the_customer_page_closes_the_open_task(client, rep, now):
    customer = CustomerFactory(name="老客户", owner=rep)
    _verified(customer, 100, now)
    info_update_reminders(now=now)
    client.force_login(rep)
    client.post(f"/customers/{customer.pk}/verify/")
    assert Task.objects.get(rule="info_update").status == "done"


def test_deleted_customers_get_no_task(rep, now):
    customer = CustomerFactory(name="已删除", owner=rep)
    Customer.objects.filter(pk=customer.pk).update(info_verified_at=None, deleted_at=now)
    info_update_reminders(now=now)
    assert not Task.objects.exists()


def test_the_task_and_command_write_job_runs(rep):
    customer = CustomerFactory(name="老客户", owner=rep)
    Customer.objects.filter(pk=customer.pk).update(info_verified_at=None)
    assert info_update_reminders_task.delay().get() == {"checked": 1, "tasks": 1}
    call_command("info_update_reminders", stdout=open("/dev/null", "w"))  # noqa: SIM115
    runs = list(JobRun.objects.filter(name="info_update_reminders").values_list("status", "counts"))
    assert runs == [("succeeded", {"checked": 1, "tasks": 0}), ("succeeded", {"checked": 1, "tasks": 1})]


def test_a_failing_job_is_recorded(monkeypatch):
    from core.jobs import run_job

    def boom():
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run_job("broken", boom)
    run = JobRun.objects.get(name="broken")
    assert run.status == "failed" and "disk full" in run.error and run.finished_at
