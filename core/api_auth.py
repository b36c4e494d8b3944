"""API tokens: creation, revocation and the DRF authentication class, plus the throttles.

Kept apart from core/api.py because DRF imports the authentication and throttle classes
named in settings while its own views module loads; this module must not import that.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, throttling
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from core.audit import audit_log
from core.models import ApiToken, AuditLog, User

TOKEN_PREFIX = "crm_"
# last_used_at is written at most this often per token (one UPDATE, not one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: User, name: str, expires_at=None, actor: User | None = None, request=None
) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns (token row, the token itself — shown once, never stored)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name.strip(), prefix=raw[:12], key_hash=hash_token(raw), expires_at=expires_at
    )
    token.full_clean(exclude=["key_hash", "prefix"])
    token.save()
    audit_log(
        actor=actor or user,
        action=AuditLog.Action.API_TOKEN_CREATE,
        obj=token,
        request=request,
        user=user.pk,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User, request=None) -> ApiToken:
    """Revoke once (a second call changes nothing and writes nothing)."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if changed:
        token.refresh_from_db(fields=["revoked_at"])
        audit_log(
            actor=actor,
            action=AuditLog.Action.API_TOKEN_REVOKE,
            obj=token,
            request=request,
            user=token.user_id,
        )
    return token


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` (or `Token <token>`). Revoked and expired tokens, and
    tokens of inactive users, are refused. Login lockout and two-factor authentication guard
    the password login only: a token is itself the second secret, made after signing in."""

    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            raw = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        token = ApiToken.objects.usable().select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        now = timezone.now()
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.api_auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


# --- throttling (counted in the default cache: Redis in production) ------------------------------


class UserRateThrottle(throttling.UserRateThrottle):
    pass


class AnonRateThrottle(throttling.AnonRateThrottle):
    pass
