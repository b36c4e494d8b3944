"""Two-factor authentication (core/twofactor.py): enrolment from the account page, the second
login step, recovery codes, turning it off, an admin's reset, REQUIRE_2FA_ROLES, the throttle
and the audit log."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import twofactor
from core.models import AuditLog

pytestmark = pytest.mark.django_db

ENROL = "/accounts/two-factor/enrol/"
VERIFY = "/accounts/two-factor/verify/"
ACCOUNT = "/accounts/security/"


def code_for(key: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for `key` now (or `steps_ahead` 30-second steps later)."""
    totp = TOTP(bytes.fromhex(key), drift=steps_ahead)
    return f"{totp.token():06d}"


def enrol(client, user) -> tuple[str, list[str]]:
    """Enrol `user` through the pages; returns the key and the recovery codes shown."""
    client.force_login(user)
    client.get(ENROL)
    key = client.session[twofactor.SESSION_ENROL_KEY]
    response = client.post(ENROL, {"code": code_for(key)})
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/recovery-codes/"
    codes_page = client.get(response["Location"])
    return key, codes_page.context["codes"]


def password_login(client, user, next_url=""):
    client.logout()
    data = {"username": user.username, "password": settings.DEMO_PASSWORD}
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    if next_url:
        data["next"] = next_url
    return client.post(url, data)


# --- enrolment ---------------------------------------------------------------------------------


def test_the_account_page_offers_two_factor_to_every_role(client, rep, service):
    for user in (rep, service):
        client.force_login(user)
        response = client.get(ACCOUNT)
        assert response.status_code == 200
        assert 'data-testid="two-factor-off"' in response.content.decode()
        assert 'data-testid="two-factor-enrol"' in response.content.decode()


def test_opening_the_enrolment_page_writes_nothing_and_keeps_one_secret(client, manager):
    client.force_login(manager)
    first = client.get(ENROL)
    second = client.get(ENROL)
    assert first.status_code == 200
    assert first.context["enrolment"].secret == second.context["enrolment"].secret
    assert first.context["enrolment"].qr_data_uri.startswith("data:image/svg+xml;base64,")
    assert not TOTPDevice.objects.exists()


def test_enrolling_with_the_right_code_turns_it_on_with_ten_recovery_codes_shown_once(client, manager):
    key, codes = enrol(client, manager)
    device = TOTPDevice.objects.get(user=manager)
    assert device.confirmed and device.key == key
    assert len(codes) == 10 and len(set(codes)) == 10
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=manager).values_list("token", flat=True)
    )
    # Shown once: the page no longer lists them.
    assert client.get("/accounts/two-factor/recovery-codes/").context["codes"] is None
    assert (
        AuditLog.objects.filter(action=AuditLog.Action.TWO_FACTOR_ENABLED, object_id=str(manager.pk)).count()
        == 1
    )
    # This session counts as verified: no second step right after enrolling.
    assert client.get("/").status_code == 200


def test_a_wrong_code_at_enrolment_writes_nothing(client, manager):
    client.force_login(manager)
    client.get(ENROL)
    key = client.session[twofactor.SESSION_ENROL_KEY]
    wrong = f"{(int(code_for(key)) + 1) % 1000000:06d}"
    response = client.post(ENROL, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not TOTPDevice.objects.exists() and not StaticDevice.objects.exists()


# --- the second login step -----------------------------------------------------------------


def test_an_enrolled_user_is_asked_for_the_code_after_the_password(client, manager):
    key, _ = enrol(client, manager)
    response = password_login(client, manager, next_url="/customers/")
    assert response.status_code == 302
    # Every page, the admin and unknown URLs included, leads to the code page, keeping "next".
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/two-factor/verify/?next=%2Fcustomers%2F"
    assert client.get("/admin/").status_code == 302
    assert client.get("/no-such-page/")["Location"].startswith(VERIFY)
    page = client.get(VERIFY)
    assert page.status_code == 200
    assert 'data-testid="two-factor-verify"' in page.content.decode()
    assert 'data-testid="user-menu"' not in page.content.decode()  # no navigation yet

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        response = client.post(VERIFY, {"code": code_for(key), "next": "/customers/"})
        assert response.status_code == 302 and response["Location"] == "/customers/"
        assert client.get("/customers/").status_code == 200


def test_a_wrong_code_is_refused_audited_and_throttled(client, manager):
    key, _ = enrol(client, manager)
    password_login(client, manager)
    right = code_for(key, steps_ahead=1)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    response = client.post(VERIFY, {"code": wrong}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    entry = AuditLog.objects.get(action=AuditLog.Action.TWO_FACTOR_FAILED)
    assert (entry.object_id, entry.ip_address, entry.details) == (
        str(manager.pk),
        "10.0.0.9",
        {"purpose": "login", "kind": "app_code"},
    )
    # Right after a wrong code, even the right one waits (django-otp's throttle).
    response = client.post(VERIFY, {"code": right}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Too many wrong codes" in response.context["form"].errors["code"][0]
    assert client.get("/").status_code == 302
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        assert client.post(VERIFY, {"code": right}).status_code == 302
        assert client.get("/").status_code == 200


def test_a_recovery_code_signs_in_once(client, manager):
    _, codes = enrol(client, manager)
    password_login(client, manager)
    response = client.post(VERIFY, {"code": codes[0].upper()[:4] + "-" + codes[0][4:]}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    assert StaticToken.objects.filter(device__user=manager).count() == 9
    assert AuditLog.objects.filter(action=AuditLog.Action.TWO_FACTOR_RECOVERY_USED).count() == 1
    # Used up: the same code does not work twice.
    password_login(client, manager)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert client.post(VERIFY, {"code": codes[0]}).status_code == 200
    assert client.get("/").status_code == 302


def test_the_code_page_sends_unenrolled_and_verified_users_on(client, rep):
    client.force_login(rep)
    response = client.get(VERIFY + "?next=/customers/")
    assert response.status_code == 302 and response["Location"] == "/customers/"
    response = client.get(VERIFY + "?next=https://evil.example.com/")
    assert response["Location"] == "/"


def test_logging_out_from_the_code_page_works(client, manager):
    enrol(client, manager)
    password_login(client, manager)
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_users_without_two_factor_log_in_as_before(client, rep):
    response = password_login(client, rep)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


# --- recovery codes, turning off, admin reset ------------------------------------------------


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(client, manager):
    key, old = enrol(client, manager)
    response = client.post("/accounts/two-factor/recovery-codes/new/", {"code": "000000"})
    assert response.status_code == 302
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(old)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        client.post("/accounts/two-factor/recovery-codes/new/", {"code": code_for(key)})
    new = client.get("/accounts/two-factor/recovery-codes/").context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert AuditLog.objects.filter(action=AuditLog.Action.TWO_FACTOR_NEW_CODES).count() == 1


def test_turning_it_off_needs_a_valid_code(client, manager):
    key, codes = enrol(client, manager)
    response = client.post("/accounts/two-factor/disable/", {"code": "12345"})
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=manager).exists()
    response = client.post("/accounts/two-factor/disable/", {"code": codes[3]})
    assert response.status_code == 302 and response["Location"] == ACCOUNT
    assert not TOTPDevice.objects.filter(user=manager).exists()
    assert not StaticDevice.objects.filter(user=manager).exists()
    assert AuditLog.objects.filter(action=AuditLog.Action.TWO_FACTOR_DISABLED, actor=manager).count() == 1
    # The next login asks for the password only.
    password_login(client, manager)
    assert client.get("/").status_code == 200


def test_turning_it_off_is_a_post(client, manager):
    enrol(client, manager)
    assert client.get("/accounts/two-factor/disable/").status_code == 405


def test_an_admin_resets_a_users_second_factor_in_the_admin_and_it_is_audited(client, manager, admin_user):
    enrol(client, manager)
    client.force_login(admin_user)
    changelist = client.get("/admin/core/user/")
    assert changelist.status_code == 200
    response = client.post(
        "/admin/core/user/",
        {"action": "reset_two_factor", "_selected_action": [manager.pk]},
        REMOTE_ADDR="10.1.1.1",
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=manager).exists()
    entry = AuditLog.objects.get(action=AuditLog.Action.TWO_FACTOR_RESET)
    assert (entry.actor, entry.object_id, entry.ip_address) == (admin_user, str(manager.pk), "10.1.1.1")
    password_login(client, manager)
    assert client.get("/").status_code == 200


def test_the_admin_does_not_show_totp_secrets(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404


# --- REQUIRE_2FA_ROLES --------------------------------------------------------------------


def test_a_required_role_must_enrol_before_using_the_app(client, manager, rep, settings):
    settings.REQUIRE_2FA_ROLES = ["admin", "sales_manager"]
    password_login(client, manager)
    response = client.get("/customers/")
    assert response.status_code == 302 and response["Location"].startswith(ENROL)
    page = client.get(ENROL)
    assert page.context["forced"] and 'data-testid="user-menu"' not in page.content.decode()
    key = client.session[twofactor.SESSION_ENROL_KEY]
    client.post(ENROL, {"code": code_for(key)})
    assert client.get("/customers/").status_code == 200
    # Reps are not forced.
    password_login(client, rep)
    assert client.get("/customers/").status_code == 200


def test_a_required_role_that_turns_it_off_sets_it_up_again(client, manager, settings):
    settings.REQUIRE_2FA_ROLES = ["sales_manager"]
    _, codes = enrol(client, manager)
    response = client.post("/accounts/two-factor/disable/", {"code": codes[0]})
    assert response["Location"] == ENROL
    assert client.get("/")["Location"].startswith(ENROL)


def test_superusers_count_as_admins(admin_user, settings):
    settings.REQUIRE_2FA_ROLES = ["admin"]
    assert twofactor.two_factor_required(admin_user)
    settings.REQUIRE_2FA_ROLES = []
    assert not twofactor.two_factor_required(admin_user)
