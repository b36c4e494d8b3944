"""Two-factor authentication: a TOTP app (Google/Microsoft Authenticator, FreeOTP, 腾讯身份验证器 ...)
and one-time recovery codes, with django-otp.

The login is two steps. The password step logs the user in as usual (django.contrib.auth.login);
when the account has a confirmed TOTP device, `mark_session_after_login` (a user_logged_in
handler) flags the session as owing the second step, and core.middleware.TwoFactorMiddleware
sends every request of that session to the code page until `two_factor_verify` accepts a code
and `django_otp.login` records the device in the session (request.user.is_verified(), from
django-otp's OTPMiddleware). Roles in REQUIRE_2FA_ROLES are flagged as owing an enrolment
instead when they have no device yet.

Devices: one confirmed TOTPDevice (the app) and one StaticDevice holding the unused recovery
codes. Wrong codes are slowed down by django-otp's throttle (per device: 1, 2, 4, 8 ... seconds
between tries after each wrong one) and every wrong code is in the audit log.
"""

import base64
import re
import secrets
import time
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.audit import audit_log
from core.models import AuditLog, Role, User

# Session keys. Set at login, cleared by the second step / the enrolment.
SESSION_PENDING = "two_factor_pending"
SESSION_ENROL_REQUIRED = "two_factor_enrol_required"
# The secret shown on the enrolment page, kept in the session (not the database) until the
# user confirms it with a code: opening the page writes nothing.
SESSION_ENROL_KEY = "two_factor_enrol_key"
# Recovery codes to show once, right after they were made.
SESSION_NEW_CODES = "two_factor_new_codes"

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "default"
_TOTP_CODE = re.compile(r"^\d{6}$")
_RECOVERY_CODE = re.compile(r"^[a-z2-7]{8}$")


# --- reading ------------------------------------------------------------------------------------


def totp_device(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_enabled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_required(user: User) -> bool:
    """Must this user enrol before using the app (REQUIRE_2FA_ROLES)? Superusers count as admins."""
    required = set(settings.REQUIRE_2FA_ROLES)
    if not required:
        return False
    if user.is_superuser and str(Role.ADMIN) in required:
        return True
    return user.groups.filter(name__in=required).exists()


def mark_session_after_login(sender, request, user, **kwargs) -> None:
    """user_logged_in handler: flag the new session as owing the second step (enrolled users)
    or an enrolment (required roles without a device). Two queries per login, none per page."""
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(SESSION_PENDING, None)
    request.session.pop(SESSION_ENROL_REQUIRED, None)
    if two_factor_enabled(user):
        request.session[SESSION_PENDING] = True
    elif two_factor_required(user):
        request.session[SESSION_ENROL_REQUIRED] = True


# --- enrolment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret as hex (kept), base32 (typed) and a QR code."""

    key: str
    secret: str
    qr_data_uri: str


def enrolment_for(request: HttpRequest) -> Enrolment:
    """The pending secret of this session (a new one the first time)."""
    key = request.session.get(SESSION_ENROL_KEY)
    if not key or not re.fullmatch(r"[0-9a-f]{40}", key):
        key = secrets.token_hex(20)
        request.session[SESSION_ENROL_KEY] = key
    device = TOTPDevice(user=request.user, key=key, name=DEVICE_NAME)
    secret = base64.b32encode(device.bin_key).decode()
    return Enrolment(
        key=key,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr_data_uri=_qr_data_uri(device.config_url),
    )


def _qr_data_uri(text: str) -> str:
    """The QR code as an SVG data: URI (an <img>, so no inline markup the CSP would question)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def _code_matches_key(key: str, code: str) -> int | None:
    """The time step at which `code` is right for `key` (±1 step of clock drift), or None."""
    if not _TOTP_CODE.match(code):
        return None
    totp = TOTP(bytes.fromhex(key), step=30, t0=0, digits=6, drift=0)
    totp.time = time.time()
    return totp.t() if totp.verify(int(code), tolerance=1) else None


@transaction.atomic
def two_factor_enable(*, user: User, key: str, code: str, request: HttpRequest | None) -> list[str] | None:
    """Confirm the pending secret with a code from the app: replace any device the user had,
    make new recovery codes, audit. Returns the recovery codes (to show once), or None when the
    code is wrong (nothing written)."""
    step = _code_matches_key(key, normalize_code(code))
    if step is None:
        return None
    _delete_devices(user)
    TOTPDevice.objects.create(user=user, name=DEVICE_NAME, key=key, confirmed=True, last_t=step)
    codes = _new_recovery_codes(user)
    audit_log(actor=user, action=AuditLog.Action.TWO_FACTOR_ENABLED, obj=user, request=request)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User, request: HttpRequest | None) -> list[str]:
    """New recovery codes; the old ones stop working. The caller has checked a code."""
    codes = _new_recovery_codes(user)
    audit_log(actor=user, action=AuditLog.Action.TWO_FACTOR_NEW_CODES, obj=user, request=request)
    return codes


def _delete_devices(user: User) -> int:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    return deleted


@transaction.atomic
def two_factor_disable(*, user: User, request: HttpRequest | None) -> None:
    """The user turns it off (the caller has checked a code)."""
    _delete_devices(user)
    audit_log(actor=user, action=AuditLog.Action.TWO_FACTOR_DISABLED, obj=user, request=request)


@transaction.atomic
def two_factor_reset(*, user: User, by: User, request: HttpRequest | None) -> bool:
    """An admin removes another user's second factor (lost phone and codes): they log in with
    the password alone and enrol again (at once, when their role requires it). Returns whether
    there was anything to remove; only then is it audited."""
    had_device = (
        TOTPDevice.objects.filter(user=user).exists() or StaticDevice.objects.filter(user=user).exists()
    )
    if not had_device:
        return False
    _delete_devices(user)
    audit_log(actor=by, action=AuditLog.Action.TWO_FACTOR_RESET, obj=user, request=request)
    return True


# --- checking a code -----------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    """What people type: spaces and dashes anywhere, full-width digits, upper case."""
    import unicodedata

    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", code or "")).lower()[:32]


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    error: str = ""
    recovery_code_used: bool = False


def _throttled_message(device) -> str | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    locked_until = (info or {}).get("locked_until")
    seconds = max(1, int((locked_until - timezone.now()).total_seconds()) + 1) if locked_until else 1
    return ngettext(
        "Too many wrong codes. Wait %(seconds)d second, then try again.",
        "Too many wrong codes. Wait %(seconds)d seconds, then try again.",
        seconds,
    ) % {"seconds": seconds}


def two_factor_check(*, user: User, code: str, request: HttpRequest | None, purpose: str) -> CodeCheck:
    """Check a code from the app (6 digits) or a recovery code (8 letters and digits, used up
    by this check) against the user's devices. A wrong code counts toward the device's
    throttle and is audited with `purpose` (login, disable, new_codes)."""
    code = normalize_code(code)
    is_recovery = bool(_RECOVERY_CODE.match(code))
    model = StaticDevice if is_recovery else TOTPDevice
    device = model.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None and not is_recovery:
        return CodeCheck(False, _("Two-factor authentication is not set up for this account."))
    if device is not None:
        throttled = _throttled_message(device)
        if throttled:
            return CodeCheck(False, throttled)
    verified = device is not None and verify_token(user, device.persistent_id, code) is not None
    if verified:
        if is_recovery:
            audit_log(
                actor=user,
                action=AuditLog.Action.TWO_FACTOR_RECOVERY_USED,
                obj=user,
                request=request,
                purpose=purpose,
                codes_left=recovery_codes_left(user),
            )
        return CodeCheck(True, recovery_code_used=is_recovery)
    audit_log(
        actor=user,
        action=AuditLog.Action.TWO_FACTOR_FAILED,
        obj=user,
        request=request,
        purpose=purpose,
        kind="recovery_code" if is_recovery else "app_code",
    )
    return CodeCheck(
        False, _("That code is not right. Check the time on your phone, or use a recovery code.")
    )


def session_verified(request: HttpRequest, *, device=None) -> None:
    """The second step is done: remember the device in the session (is_verified()) and clear
    the flags."""
    device = device or totp_device(request.user)
    if device is not None:
        otp_login(request, device)
    request.session.pop(SESSION_PENDING, None)
    request.session.pop(SESSION_ENROL_REQUIRED, None)
