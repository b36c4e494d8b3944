"""Webhooks: tell other systems (ERP, finance) when something happens.

Admins register endpoints (admin → Webhook endpoints) for events. Domain apps emit events
from their services' signals (customers/apps.py, sales/apps.py connect them), so core knows
no domain app. `webhook_emit()` writes one WebhookDelivery per subscribed endpoint inside the
caller's transaction and enqueues the sending on commit: a rolled-back change sends nothing,
a committed one is never lost (a beat job picks up what the broker missed).

Each request carries the JSON body {"event", "id", "timestamp", "payload"} and the headers
X-CRM-Event, X-CRM-Delivery, X-CRM-Timestamp (Unix seconds) and
X-CRM-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>. Any 2xx answer is a
success; anything else (or no answer) is retried WEBHOOK_MAX_ATTEMPTS times in all, after
WEBHOOK_RETRY_BASE_SECONDS × 2^(n−1). Every attempt is logged (WebhookAttempt).

SSRF: URLs whose host resolves to a private, loopback, link-local, multicast or reserved
address are refused (when registered and again before each request; redirects are not
followed) unless WEBHOOK_ALLOW_PRIVATE is set.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

EXCERPT_LENGTH = 500


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: str, signature: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (README "Webhooks"): same HMAC, constant-time compare, fresh timestamp."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- SSRF guard --------------------------------------------------------------------------------


def check_url(url: str) -> None:
    """Raise ValidationError unless `url` is http(s) on a public address (or private ones are allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("Enter an http:// or https:// URL."), code="scheme")
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(_("The host name could not be resolved."), code="dns") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise ValidationError(
                _("Webhooks may not call private, loopback or link-local addresses (%(address)s).")
                % {"address": address},
                code="private_address",
            )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is answered as the 3xx it is: not followed, not a success


_opener = urllib.request.build_opener(_NoRedirect)


# --- registering and emitting ------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_create(
    *, url: str, events: list[str], user, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns (endpoint, its secret — shown once)."""
    from core.audit import audit_log
    from core.models import AuditLog

    check_url(url)
    unknown = set(events) - set(WebhookEndpoint.Event.values)
    if unknown or not events:
        raise ValidationError({"events": _("Choose at least one of the events.")})
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url, events=list(events), secret=secret, description=description, created_by=user
    )
    endpoint.full_clean()
    endpoint.save()
    audit_log(actor=user, action=AuditLog.Action.WEBHOOK_CREATE, obj=endpoint, events=list(events))
    return endpoint, secret


ENDPOINTS_CACHE_KEY = "webhooks:active-endpoints"


def _subscribed_endpoint_ids(event: str) -> list[int]:
    """Active endpoints for `event`, from the cache: every customer edit and order asks, and
    most installations have no webhooks, so this must not cost a query each time. The cache
    entry is dropped whenever an endpoint changes (signal below)."""
    from django.core.cache import cache

    table = cache.get(ENDPOINTS_CACHE_KEY)
    if table is None:
        table = list(WebhookEndpoint.objects.filter(active=True).values_list("pk", "events"))
        cache.set(ENDPOINTS_CACHE_KEY, table, 3600)
    return [pk for pk, events in table if event in events]


def forget_endpoints(**kwargs) -> None:
    from django.core.cache import cache

    cache.delete(ENDPOINTS_CACHE_KEY)


def webhook_emit(
    *, event: str, object_id: int, payload: dict[str, Any] | None = None, payload_builder=None
) -> list[WebhookDelivery]:
    """Queue `event` for every active endpoint subscribed to it; sending starts on commit.
    `payload_builder` (a callable) is only called when someone listens."""
    endpoint_ids = _subscribed_endpoint_ids(event)
    if not endpoint_ids:
        return []
    if payload is None:
        payload = payload_builder()
    body = json.dumps(
        {"event": event, "id": object_id, "timestamp": timezone.now().isoformat(), "payload": payload},
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint_id=pk, event=event, body=body, next_retry_at=timezone.now())
            for pk in endpoint_ids
        ]
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(ids: list[int], countdown: int = 0) -> None:
    from core.tasks import webhook_deliver

    for pk in ids:
        webhook_deliver.apply_async((pk,), countdown=countdown)


def retry_delay(attempts_made: int) -> int:
    """Seconds before the next try after `attempts_made` failed ones: base × 2^(n−1)."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts_made - 1)


# --- delivering --------------------------------------------------------------------------------


def webhook_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one pending delivery once; returns it, or None when there was nothing to do.

    Claimed with a conditional UPDATE (pending, attempt count unchanged), so two workers never
    send the same attempt. On failure the next try is scheduled (or the delivery fails for good).
    """
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=delivery.attempts + 1, next_retry_at=None)
    if not claimed:
        return None
    delivery.attempts += 1
    delivery.next_retry_at = None
    endpoint = delivery.endpoint
    attempt = WebhookAttempt(delivery=delivery)
    started = time.monotonic()
    try:
        if not endpoint.active:
            raise ValidationError(_("The endpoint is switched off."))
        check_url(endpoint.url)
        timestamp = str(int(time.time()))
        # check_url() allowed http(s) only.
        request = urllib.request.Request(  # noqa: S310
            endpoint.url,
            data=delivery.body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "CRM-Webhooks/1",
                "X-CRM-Event": delivery.event,
                "X-CRM-Delivery": str(delivery.pk),
                "X-CRM-Timestamp": timestamp,
                "X-CRM-Signature": sign(endpoint.secret, timestamp, delivery.body),
                "Idempotency-Key": str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-delivery-{delivery.pk}")),
            },
        )
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            attempt.status_code = response.status
            attempt.response_excerpt = response.read(EXCERPT_LENGTH).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        attempt.status_code = exc.code
        attempt.response_excerpt = exc.read(EXCERPT_LENGTH).decode("utf-8", "replace") if exc.fp else ""
    except ValidationError as exc:
        attempt.error = " ".join(exc.messages)[:EXCERPT_LENGTH]
    except (OSError, ValueError) as exc:  # connection refused, timeout, bad URL
        attempt.error = f"{type(exc).__name__}: {exc}"[:EXCERPT_LENGTH]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = attempt.status_code is not None and 200 <= attempt.status_code < 300
    now = timezone.now()
    if succeeded:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.next_retry_at = attempt.next_retry_at = now + timedelta(
            seconds=retry_delay(delivery.attempts)
        )
    attempt.save()
    delivery.save(update_fields=["status", "delivered_at", "next_retry_at"])
    return delivery


def webhook_resend(*, delivery: WebhookDelivery, user, request=None) -> WebhookDelivery:
    """An admin's manual re-send: a new delivery of the same body, sent now."""
    from core.audit import audit_log
    from core.models import AuditLog

    copy = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint, event=delivery.event, body=delivery.body, next_retry_at=timezone.now()
    )
    audit_log(
        actor=user, action=AuditLog.Action.WEBHOOK_RESEND, obj=delivery, request=request, new_delivery=copy.pk
    )
    transaction.on_commit(lambda: _enqueue([copy.pk]))
    return copy


def webhooks_retry_due(*, now=None, batch_size: int = 500) -> int:
    """Enqueue pending deliveries whose retry time has passed by more than a minute (the
    broker lost them, or a worker restarted). The claim in webhook_attempt() makes a
    duplicate harmless."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_retry_at__lt=now - timedelta(minutes=1)
        )
        .order_by("next_retry_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    _enqueue(ids)
    return len(ids)
