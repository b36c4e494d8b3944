"""Admins browse the audit log (search, filters, read-only); old entries are deleted by the
retention job only."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from core.audit import audit_log
from core.models import AuditLog, JobRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(rep, manager):
    return {
        "reveal": audit_log(actor=rep, action=AuditLog.Action.REVEAL, field="mobile", request=None),
        "export": AuditLog.objects.create(
            actor=manager, action=AuditLog.Action.EXPORT, object_repr="客户台账", ip_address="10.9.8.7"
        ),
        "login": AuditLog.objects.create(
            actor=rep, action=AuditLog.Action.LOGIN, object_repr="张三丰", ip_address="192.0.2.1"
        ),
    }


def listed(response) -> set[int]:
    return {entry.pk for entry in response.context["cl"].result_list}


def test_admins_search_the_audit_log_by_record_person_and_ip(client, admin_user, log):
    client.force_login(admin_user)
    assert listed(client.get("/admin/core/auditlog/", {"q": "张三"})) == {log["login"].pk}
    assert listed(client.get("/admin/core/auditlog/", {"q": "manager"})) == {log["export"].pk}
    assert listed(client.get("/admin/core/auditlog/", {"q": "10.9.8"})) == {log["export"].pk}


def test_admins_filter_the_audit_log_by_action_person_and_date(client, admin_user, rep, log):
    client.force_login(admin_user)
    assert listed(client.get("/admin/core/auditlog/", {"action__exact": "export"})) == {log["export"].pk}
    by_rep = listed(client.get("/admin/core/auditlog/", {"actor__id__exact": rep.pk}))
    assert by_rep >= {log["reveal"].pk, log["login"].pk} and log["export"].pk not in by_rep
    today = timezone.localdate()
    response = client.get(
        "/admin/core/auditlog/", {"at__year": today.year, "at__month": today.month, "at__day": today.day}
    )
    assert response.status_code == 200 and listed(response) >= {e.pk for e in log.values()}


def test_the_audit_log_is_read_only_in_the_admin_even_for_superusers(client, admin_user, log):
    client.force_login(admin_user)
    entry = log["export"]
    page = client.get(f"/admin/core/auditlog/{entry.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content and "10.9.8.7" in content
    assert client.post(f"/admin/core/auditlog/{entry.pk}/change/", {"field": "x"}).status_code == 403
    assert client.get("/admin/core/auditlog/add/").status_code == 403
    assert client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = client.post(
        "/admin/core/auditlog/", {"action": "delete_selected", "_selected_action": [entry.pk]}
    )
    assert changelist.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.field == "" and AuditLog.objects.filter(pk=entry.pk).exists()


def test_a_sales_manager_cannot_browse_the_audit_log(client, manager):
    client.force_login(manager)
    response = client.get("/admin/core/auditlog/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- retention ---------------------------------------------------------------------------


def _entry_at(when, **kwargs) -> AuditLog:
    with time_machine.travel(when, tick=False):
        return AuditLog.objects.create(action=AuditLog.Action.LOGIN, **kwargs)


def test_the_retention_job_deletes_entries_older_than_the_retention_period(settings):
    settings.AUDIT_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    old = [_entry_at(now - timedelta(days=31), object_repr=f"old {i}") for i in range(3)]
    kept = _entry_at(now - timedelta(days=29), object_repr="recent")

    from core.tasks import purge_audit_log

    counts = purge_audit_log.delay().get()
    assert counts["deleted"] == 3 and counts["retention_days"] == 30
    assert not AuditLog.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditLog.objects.filter(pk=kept.pk).exists()
    run = JobRun.objects.get(name="purge_audit_log")
    assert run.status == JobRun.Status.SUCCEEDED and run.counts["deleted"] == 3


def test_the_retention_job_deletes_in_batches(settings, monkeypatch):
    monkeypatch.setattr(type(AuditLog.objects.all()), "PURGE_BATCH_SIZE", 2)
    settings.AUDIT_LOG_RETENTION_DAYS = 1
    for i in range(5):
        _entry_at(timezone.now() - timedelta(days=2), object_repr=f"old {i}")
    assert AuditLog.objects._purge_before(timezone.now() - timedelta(days=1)) == 5
    assert not AuditLog.objects.filter(object_repr__startswith="old ").exists()


def test_a_retention_of_zero_keeps_every_entry(settings):
    settings.AUDIT_LOG_RETENTION_DAYS = 0
    ancient = _entry_at(timezone.now() - timedelta(days=5000))
    call_command("purge_audit_log")
    assert AuditLog.objects.filter(pk=ancient.pk).exists()
    assert JobRun.objects.get(name="purge_audit_log").counts == {"deleted": 0, "retention_days": 0}


def test_the_purge_command_reports_what_it_deleted(settings, capsys):
    settings.AUDIT_LOG_RETENTION_DAYS = 1095
    _entry_at(timezone.now() - timedelta(days=1100))
    call_command("purge_audit_log")
    assert "Deleted 1 audit entries older than 1095 days" in capsys.readouterr().out


def test_the_retention_job_is_scheduled_nightly():
    from django.conf import settings

    job = settings.CELERY_BEAT_SCHEDULE["purge-audit-log"]
    assert job["task"] == "core.tasks.purge_audit_log"
    assert settings.AUDIT_LOG_RETENTION_DAYS == 1095  # three years unless configured


def test_nothing_else_deletes_audit_entries():
    entry = AuditLog.objects.create(action=AuditLog.Action.LOGIN)
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    with pytest.raises(PermissionError):
        entry.delete()
    assert AuditLog.objects.filter(pk=entry.pk).exists()
