"""The beat job that announces due and overdue tasks, reminders and SLA risks: one
notification per record and state, however often it runs (also through a real worker)."""

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from core.models import Notification
from crm.celery import app
from customers.tests.factories import CustomerFactory
from interactions.models import Ticket
from interactions.services import send_due_notifications, task_postpone
from interactions.tasks import send_due_notifications as send_due_notifications_task
from interactions.tests.factories import make_task, make_ticket


def _kinds(user) -> list[str]:
    return sorted(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


@pytest.fixture
def scene(rep, service):
    now = timezone.now()
    customer = CustomerFactory(name="王小明", owner=rep)
    make_task(rep, customer, title="过期任务", due_at=now - timedelta(hours=2))
    make_task(rep, customer, title="马上到期", due_at=now + timedelta(minutes=30))
    make_task(
        rep, customer, title="提醒", due_at=now + timedelta(days=2), remind_at=now - timedelta(minutes=5)
    )
    make_task(rep, customer, title="以后", due_at=now + timedelta(days=5))
    make_task(rep, customer, title="已完成", due_at=now - timedelta(days=1), status="done")
    late = make_ticket(customer, service, subject="逾期", assignee=service)
    Ticket.objects.filter(pk=late.pk).update(sla_due_at=now - timedelta(minutes=1))
    soon = make_ticket(customer, service, subject="快逾期", assignee=service)
    Ticket.objects.filter(pk=soon.pk).update(sla_due_at=now + timedelta(minutes=30))
    unassigned = make_ticket(customer, rep, subject="无人处理")
    Ticket.objects.filter(pk=unassigned.pk).update(sla_due_at=now - timedelta(minutes=1))
    return customer


@pytest.mark.django_db
def test_the_job_notifies_each_state_once(scene, rep, service):
    Notification.objects.all().delete()
    counts = send_due_notifications()
    assert counts == {
        "task_due": 1,
        "task_overdue": 1,
        "task_reminder": 1,
        "ticket_sla_warning": 1,
        "ticket_sla_breached": 2,
    }
    assert _kinds(rep) == [
        "task_due",
        "task_overdue",
        "task_reminder",
        "ticket_sla_breached",
    ]  # the unassigned ticket's opener
    assert _kinds(service) == ["ticket_sla_breached", "ticket_sla_warning"]
    send_due_notifications()
    send_due_notifications()
    assert Notification.objects.count() == 6


@pytest.mark.django_db
def test_a_postponed_task_is_announced_again_at_its_new_time(scene, rep):
    Notification.objects.all().delete()
    send_due_notifications()
    task = rep.tasks.get(title="过期任务")
    task_postpone(task=task, user=rep, until=timezone.now() + timedelta(minutes=10))
    send_due_notifications()
    titles = list(Notification.objects.filter(recipient=rep, kind="task_due").values_list("title", flat=True))
    assert len(titles) == 2 and any("过期任务" in t for t in titles)


@pytest.mark.django_db
def test_notifications_are_written_in_the_recipients_language(scene, rep):
    Notification.objects.all().delete()
    rep.language = "en"
    rep.save()
    send_due_notifications()
    assert Notification.objects.get(recipient=rep, kind="task_overdue").title.startswith("Overdue")


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
def test_the_job_run_twice_through_a_real_worker_makes_one_notification(real_worker, rep):
    customer = CustomerFactory(name="王小明", owner=rep)
    make_task(rep, customer, title="过期任务", due_at=timezone.now() - timedelta(hours=1))
    first = send_due_notifications_task.delay().get(timeout=30)
    second = send_due_notifications_task.delay().get(timeout=30)
    assert first["task_overdue"] == 1 and second["task_overdue"] == 1  # seen twice...
    assert Notification.objects.filter(recipient=rep, kind="task_overdue").count() == 1  # ...announced once


@pytest.mark.django_db
def test_the_job_is_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["task-and-ticket-notifications"]
    assert entry["task"] == "interactions.tasks.send_due_notifications"
