"""The append-only audit log: who did what to which record, from where.

`audit_log()` writes one entry. Most entries are written by views and services, which have
the request at hand. Access changes (roles, teams, permissions, user flags) are recorded by
signal handlers in core/signals.py instead, because the Django admin, the shell and
management commands make them too and only the model layer sees all of them. Signals do not
carry the request, so `AuditRequestMiddleware` (core/middleware.py) keeps the current
request in a context variable for the duration of each request; `current_request()` reads
it. A context variable rather than a thread-local: it is per thread and per asyncio task,
and it is reset when the request ends, so a worker thread never sees a previous request.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from core.models import AuditLog

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)
_access_changes_paused: ContextVar[bool] = ContextVar("audit_access_changes_paused", default=False)


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address. Behind a proxy, REMOTE_ADDR is the proxy unless the proxy
    rewrites it (gunicorn --forwarded-allow-ips with a trusted proxy)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_log(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    field: str = "",
    request: HttpRequest | None = None,
    **details,
) -> AuditLog:
    """Append one entry. `details` must never carry plaintext personal data."""
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        field=field,
        ip_address=client_ip(request),
        details=details,
    )


# --- the request behind a model change -----------------------------------------------------


@contextmanager
def request_context(request: HttpRequest) -> Iterator[None]:
    """Make `request` the current request until the block ends (AuditRequestMiddleware)."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def current_request() -> HttpRequest | None:
    """The request being handled in this thread or task, or None (shell, Celery, commands)."""
    return _current_request.get()


def current_actor():
    """The signed-in user behind the current request, or None."""
    request = current_request()
    user = getattr(request, "user", None) if request is not None else None
    return user if getattr(user, "is_authenticated", False) else None


def audit_change(*, action: str, obj: models.Model, field: str = "", **details) -> AuditLog | None:
    """An entry for a model change seen by a signal: the actor and IP come from the current
    request (none outside a request). Nothing is written while access changes are paused."""
    if _access_changes_paused.get():
        return None
    request = current_request()
    return audit_log(actor=current_actor(), action=action, obj=obj, field=field, request=request, **details)


@contextmanager
def access_changes_unaudited() -> Iterator[None]:
    """Only for `sync_role_permissions` after `migrate`: the permissions it adds are the ones
    declared in core/roles.py, reviewed in version control; the audit log records the changes
    people make at run time."""
    token = _access_changes_paused.set(True)
    try:
        yield
    finally:
        _access_changes_paused.reset(token)


# --- retention -------------------------------------------------------------------------------

PURGE_JOB_NAME = "purge_audit_log"


def audit_log_purge() -> dict:
    """Delete entries older than AUDIT_LOG_RETENTION_DAYS (0: keep everything). Run nightly
    by Celery beat and by `manage.py purge_audit_log`, both through core.jobs.run_job, so each
    run leaves a JobRun with the count."""
    days = settings.AUDIT_LOG_RETENTION_DAYS
    if not days:
        return {"deleted": 0, "retention_days": 0}
    cutoff = timezone.now() - timedelta(days=days)
    deleted = AuditLog.objects._purge_before(cutoff)
    return {"deleted": deleted, "retention_days": days, "cutoff": cutoff.isoformat()}
