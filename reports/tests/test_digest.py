from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Notification
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.tests.factories import make_task
from reports.digest import daily_digest
from reports.tasks import daily_digest as daily_digest_task

pytestmark = pytest.mark.django_db


def test_each_user_gets_one_digest_a_day_with_what_matters(rep, teammate, manager):
    now = timezone.now()
    customer = CustomerFactory(name="王小明", owner=rep)
    make_task(rep, customer, due_at=now - timedelta(hours=3))
    make_task(rep, customer, due_at=now + timedelta(days=5))
    Customer.objects.filter(pk=customer.pk).update(churn_flagged_at=now - timedelta(hours=2))
    counts = daily_digest(now=now)
    assert counts["digests"] == 1  # teammate and manager have nothing to report
    note = Notification.objects.get(recipient=rep, kind="daily_digest")
    assert "1" in note.title
    daily_digest(now=now)
    daily_digest_task.delay().get()
    assert Notification.objects.filter(kind="daily_digest").count() == 1  # once a day
    daily_digest(now=now + timedelta(days=1))
    assert Notification.objects.filter(kind="daily_digest").count() == 2


def test_the_digest_speaks_the_users_language(rep):
    rep.language = "en"
    rep.save()
    make_task(rep, due_at=timezone.now() - timedelta(hours=1))
    daily_digest()
    assert Notification.objects.get(recipient=rep).title == "Your day: 1 overdue task"
