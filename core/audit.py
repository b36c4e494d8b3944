from django.db import models
from django.http import HttpRequest

from core.models import AuditLog


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
