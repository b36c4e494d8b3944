"""Repeated failed logins lock the username + address out (django-axes), with a translated
lockout page, an audit entry, and an unlock for admins."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditLog

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT


def login(client, username="rep", password="wrong", ip="10.0.0.7", **extra):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def fail(client, times, **kwargs):
    return [login(client, **kwargs) for _ in range(times)]


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True


def test_the_fifth_wrong_password_locks_the_login_out(client, rep):
    responses = fail(client, LIMIT)
    assert [r.status_code for r in responses[:-1]] == [200] * (LIMIT - 1)
    locked = responses[-1]
    assert locked.status_code == 429
    content = locked.content.decode()
    assert 'data-testid="lockout"' in content and 'lang="zh-hans"' in content

    # While locked, even the right password is refused.
    response = login(client, password=settings.DEMO_PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_lockout_is_audited_once_with_the_account_and_address(client, rep):
    fail(client, LIMIT + 2)
    entries = list(AuditLog.objects.filter(action=AuditLog.Action.ACCOUNT_LOCKED))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.object_type, entry.object_id, entry.ip_address) == ("core.user", str(rep.pk), "10.0.0.7")
    assert entry.details == {"username": "rep", "failures": LIMIT, "cooloff_minutes": 15}
    assert entry.actor is None


def test_an_unknown_username_is_locked_out_without_naming_an_account(client, db):
    fail(client, LIMIT, username="nobody")
    entry = AuditLog.objects.get(action=AuditLog.Action.ACCOUNT_LOCKED)
    assert entry.object_id == "" and entry.details["username"] == "nobody"


def test_the_lockout_page_speaks_english_to_english_browsers(client, rep):
    response = fail(client, LIMIT, HTTP_ACCEPT_LANGUAGE="en")[-1]
    assert response.status_code == 429
    assert "Login locked" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()


def test_the_lockout_is_per_username_and_address(client, rep, teammate):
    fail(client, LIMIT)
    # The same person from another address, and a colleague from the same one, still log in.
    assert login(client, password=settings.DEMO_PASSWORD, ip="10.0.0.8").status_code == 302
    client.logout()
    assert login(client, username="teammate", password=settings.DEMO_PASSWORD).status_code == 302


def test_a_successful_login_resets_the_count(client, rep):
    fail(client, LIMIT - 1)
    assert login(client, password=settings.DEMO_PASSWORD).status_code == 302
    client.logout()
    assert [r.status_code for r in fail(client, LIMIT - 1)] == [200] * (LIMIT - 1)


def test_the_lockout_ends_after_the_cool_off_time(client, rep):
    fail(client, LIMIT)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert login(client, password=settings.DEMO_PASSWORD).status_code == 302


def test_an_admin_unlocks_with_the_reset_command_and_it_is_audited(client, rep, capsys):
    fail(client, LIMIT)
    call_command("axes_reset_username", "rep")
    assert "1 attempts removed" in capsys.readouterr().out
    assert login(client, password=settings.DEMO_PASSWORD).status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.ACCOUNT_UNLOCKED)
    assert entry.object_id == str(rep.pk)
    assert entry.details == {"username": "rep", "locked_ip": "10.0.0.7"}


def test_an_admin_unlocks_in_the_admin_and_is_named_in_the_audit_log(client, rep, admin_user):
    fail(client, LIMIT)
    attempt = AccessAttempt.objects.get(username="rep")
    admin = client.__class__()
    admin.force_login(admin_user)
    assert admin.get("/admin/axes/accessattempt/?locked_out=yes").status_code == 200
    response = admin.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, REMOTE_ADDR="10.9.9.9"
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.ACCOUNT_UNLOCKED)
    assert (entry.actor, entry.ip_address) == (admin_user, "10.9.9.9")
    assert login(client, password=settings.DEMO_PASSWORD).status_code == 302


def test_attempts_cleaned_up_after_the_lockout_ran_out_are_not_unlocks(client, rep):
    fail(client, LIMIT)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        AccessAttempt.objects.all().delete()
    assert not AuditLog.objects.filter(action=AuditLog.Action.ACCOUNT_UNLOCKED).exists()


def test_the_password_is_never_stored_by_the_lockout(client, rep):
    fail(client, LIMIT, password="s3cret-guess")
    attempt = AccessAttempt.objects.get(username="rep")
    assert "s3cret-guess" not in attempt.post_data
    assert "s3cret-guess" not in repr(list(AuditLog.objects.values_list("details", flat=True)))
