"""Personal-data retention: customers inactive for PERSONAL_DATA_RETENTION_DAYS are anonymised by
the nightly job, once, with a privacy request and an audit entry each; off when 0."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditLog, JobRun
from customers.models import Customer, PrivacyRequest
from customers.tasks import anonymise_inactive_customers
from customers.tests.factories import CustomerFactory
from interactions.tests.factories import make_interaction
from sales.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_customers(rep):
    """Four customers created three years ago; then two of them see activity."""
    with time_machine.travel(timezone.now() - timedelta(days=3 * 365), tick=False):
        quiet = CustomerFactory(name="沉寂客户", owner=rep, mobile="13800000001")
        talked = CustomerFactory(name="有跟进", owner=rep)
        bought = CustomerFactory(name="有订单", owner=rep)
        edited = CustomerFactory(name="有修改", owner=rep)
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=False):
        make_interaction(talked, rep, summary="回访")
        make_order(bought, rep)
        edited.notes = "更新"
        edited.save()
    return quiet, talked, bought, edited


def test_the_job_anonymises_only_inactive_customers_and_only_once(settings, old_customers):
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    quiet, talked, bought, edited = old_customers
    first = anonymise_inactive_customers.delay().get()
    assert (first["anonymised"], first["retention_days"]) == (1, 365)
    quiet.refresh_from_db()
    assert quiet.is_anonymised and quiet.mobile == "" and quiet.name == ""
    for customer in (talked, bought, edited):
        customer.refresh_from_db()
        assert not customer.is_anonymised, customer
    request = PrivacyRequest.objects.get()
    assert (request.kind, request.customer, request.requested_by) == ("erasure", quiet, None)
    assert request.reference == "retention:365d"
    entry = AuditLog.objects.get(action=AuditLog.Action.ERASE)
    assert (entry.actor, entry.object_id) == (None, str(quiet.pk))

    second = anonymise_inactive_customers.delay().get()
    assert second["anonymised"] == 0
    assert PrivacyRequest.objects.count() == 1 and AuditLog.objects.filter(action="erase").count() == 1
    assert JobRun.objects.filter(name="anonymise_inactive_customers", status="succeeded").count() == 2


def test_the_job_is_off_when_the_setting_is_zero(settings, old_customers):
    settings.PERSONAL_DATA_RETENTION_DAYS = 0
    assert anonymise_inactive_customers.delay().get() == {"retention_days": 0, "anonymised": 0}
    assert not Customer.objects.filter(anonymised_at__isnull=False).exists()


def test_the_command_counts_with_dry_run_and_anonymises_without(settings, old_customers, capsys):
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    call_command("anonymise_inactive_customers", "--dry-run")
    assert "would_anonymise=1" in capsys.readouterr().out
    assert not Customer.objects.filter(anonymised_at__isnull=False).exists()
    call_command("anonymise_inactive_customers")
    assert "anonymised=1" in capsys.readouterr().out
    assert Customer.objects.filter(anonymised_at__isnull=False).count() == 1


def test_batches_cover_every_candidate(settings, rep):
    from customers.privacy import anonymise_inactive_customers as run

    settings.PERSONAL_DATA_RETENTION_DAYS = 10
    with time_machine.travel(timezone.now() - timedelta(days=20), tick=False):
        for i in range(5):
            CustomerFactory(name=f"客户{i}号", owner=rep)
    assert run(batch_size=2)["anonymised"] == 5
    assert not Customer.objects.filter(anonymised_at__isnull=True).exists()


def test_the_job_is_declared_in_the_beat_schedule():
    entry = django_settings.CELERY_BEAT_SCHEDULE["anonymise-inactive-customers"]
    assert entry["task"] == "customers.tasks.anonymise_inactive_customers"
