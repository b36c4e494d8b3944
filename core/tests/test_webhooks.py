"""Webhooks against a real HTTP server in a thread: signature, retry with back-off, the
delivery log, SSRF refusal. Tasks run eagerly (settings_test), so a retry runs at once; the
back-off is checked on the recorded next-retry times."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditLog, WebhookDelivery, WebhookEndpoint
from core.webhooks import check_url, verify, webhook_endpoint_create, webhook_resend


class Receiver:
    """A local HTTP server that records requests and answers with the queued status codes."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"boom")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_cached_endpoints():
    """The endpoint list is cached in Redis, which outlives each test's rolled-back database:
    leave it saying "no endpoints", as the database will again."""
    from django.core.cache import cache

    from core.webhooks import ENDPOINTS_CACHE_KEY

    cache.delete(ENDPOINTS_CACHE_KEY)
    yield
    cache.set(ENDPOINTS_CACHE_KEY, [], 3600)


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_MAX_ATTEMPTS = 3


def _create_customer(user, django_capture_on_commit_callbacks, **data):
    from customers.services import customer_create

    with django_capture_on_commit_callbacks(execute=True):
        return customer_create(user=user, data={"name": "张三", "owner": user, **data})


def test_a_delivery_is_signed_and_the_receiver_can_verify_it(
    allow_private, admin_user, rep, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        endpoint, secret = webhook_endpoint_create(
            url=receiver.url, events=["customer.created"], user=admin_user
        )
        customer = _create_customer(rep, django_capture_on_commit_callbacks, mobile="13812345678")

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-crm-event"] == "customer.created"
    assert verify(secret, headers["x-crm-timestamp"], request["body"], headers["x-crm-signature"])
    assert not verify("wrong-secret", headers["x-crm-timestamp"], request["body"], headers["x-crm-signature"])
    body = json.loads(request["body"])
    assert body["event"] == "customer.created" and body["id"] == customer.pk and body["timestamp"]
    assert body["payload"]["name"] == "张三"
    # Personal data leaves masked.
    assert body["payload"]["mobile"] == "138****5678"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 1
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert AuditLog.objects.filter(action=AuditLog.Action.WEBHOOK_CREATE, object_id=str(endpoint.pk)).exists()


def test_a_failed_delivery_is_retried_with_back_off_until_it_succeeds(
    allow_private, admin_user, rep, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[500, 503, 200]) as receiver:
        endpoint, _ = webhook_endpoint_create(url=receiver.url, events=["customer.created"], user=admin_user)
        _create_customer(rep, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 3
    attempts = list(delivery.attempt_log.order_by("id"))
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert attempts[0].response_excerpt == "boom"
    # Back-off: 30 s after the first failure, 60 s after the second.
    delays = [round((a.next_retry_at - a.at).total_seconds()) for a in attempts[:2]]
    assert delays == [30, 60]
    assert attempts[2].next_retry_at is None
    # The same signed body each time.
    assert len({r["body"] for r in receiver.requests}) == 1


def test_a_delivery_fails_for_good_after_the_last_attempt(
    allow_private, admin_user, rep, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[500]) as receiver:
        endpoint, _ = webhook_endpoint_create(url=receiver.url, events=["customer.created"], user=admin_user)
        _create_customer(rep, django_capture_on_commit_callbacks)
        assert len(receiver.requests) == 3

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.attempts == 3
    assert delivery.next_retry_at is None

    # An admin re-sends it by hand: a new delivery, audited.
    with Receiver(statuses=[200]) as receiver:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
        delivery.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            copy = webhook_resend(delivery=delivery, user=admin_user)
    copy.refresh_from_db()
    assert copy.status == WebhookDelivery.Status.SUCCEEDED and copy.body == delivery.body
    assert AuditLog.objects.filter(action=AuditLog.Action.WEBHOOK_RESEND).count() == 1


def test_nothing_is_sent_for_a_rolled_back_change(
    allow_private, admin_user, rep, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with Receiver() as receiver:
        webhook_endpoint_create(url=receiver.url, events=["customer.created"], user=admin_user)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    from customers.services import customer_create

                    customer_create(user=rep, data={"name": "回滚", "owner": rep})
                    raise RuntimeError
            except RuntimeError:
                pass
    assert callbacks == [] and receiver.requests == []
    assert not WebhookDelivery.objects.exists()


def test_order_created_and_opportunity_won_are_sent(
    allow_private, admin_user, rep, django_capture_on_commit_callbacks
):
    from customers.tests.factories import CustomerFactory
    from sales.services import opportunity_move
    from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

    stages = ensure_default_pipeline()
    customer = CustomerFactory(owner=rep)
    with Receiver() as receiver:
        webhook_endpoint_create(
            url=receiver.url, events=["order.created", "opportunity.won"], user=admin_user
        )
        with django_capture_on_commit_callbacks(execute=True):
            order = make_order(customer, rep)
        with django_capture_on_commit_callbacks(execute=True):
            opportunity = make_opportunity(customer, rep)
        with django_capture_on_commit_callbacks(execute=True):
            opportunity_move(opportunity=opportunity, stage=stages["Won"], user=rep)
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [(e["event"], e["id"]) for e in events] == [
        ("order.created", order.pk),
        ("opportunity.won", opportunity.pk),
    ]
    assert events[0]["payload"]["number"] == order.number and len(events[0]["payload"]["lines"]) == 1


def test_private_and_loopback_addresses_are_refused(
    settings, admin_user, rep, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/",
        "http://[::1]/",
        "ftp://example.com/",
    ):
        with pytest.raises(ValidationError):
            check_url(url)
    with pytest.raises(ValidationError):
        webhook_endpoint_create(url="http://localhost/hook", events=["customer.created"], user=admin_user)

    # An endpoint registered while private addresses were allowed is refused at delivery time.
    with Receiver() as receiver:
        endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=["customer.created"], secret="s")
        assert endpoint.active
        settings.WEBHOOK_MAX_ATTEMPTS = 1
        _create_customer(rep, django_capture_on_commit_callbacks)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "127.0.0.1" in delivery.attempt_log.get().error  # (in the site's language)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_after_the_back_off(settings, admin_user, rep):
    """Through the test Redis and a real worker: the second try waits for the back-off."""
    import time

    from celery.contrib.testing.worker import start_worker

    from crm.celery import app

    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 2
    broker = settings.CELERY_BROKER_URL
    old = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=broker, result_backend=broker)
    try:
        with Receiver(statuses=[500, 200]) as receiver:
            endpoint, _ = webhook_endpoint_create(
                url=receiver.url, events=["customer.created"], user=admin_user
            )
            with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
                from customers.services import customer_create

                customer_create(
                    user=rep, data={"name": "真实队列", "owner": rep}
                )  # autocommit: on_commit runs now
                delivery = WebhookDelivery.objects.get(endpoint=endpoint)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    delivery.refresh_from_db()
                    if delivery.status != WebhookDelivery.Status.PENDING:
                        break
                    time.sleep(0.2)
    finally:
        app.conf.update(old)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 2
    first, second = delivery.attempt_log.order_by("id")
    assert first.status_code == 500 and second.status_code == 200
    assert (second.at - first.at).total_seconds() >= 1.9


def test_customer_updated_also_fires_for_bulk_changes_merges_and_pool_moves(
    allow_private, admin_user, rep, teammate, manager, django_capture_on_commit_callbacks
):
    from customers.models import Customer
    from customers.pool import pool_customer_claim, pool_customer_release
    from customers.services import customer_merge, customers_bulk_assign_owner
    from customers.tests.factories import CustomerFactory

    first, second = CustomerFactory(owner=rep, name="甲"), CustomerFactory(owner=rep, name="乙")
    with Receiver() as receiver:
        webhook_endpoint_create(url=receiver.url, events=["customer.updated"], user=admin_user)
        with django_capture_on_commit_callbacks(execute=True):
            customers_bulk_assign_owner(
                customers=Customer.objects.filter(pk__in=[first.pk, second.pk]), owner=teammate, user=manager
            )
        with django_capture_on_commit_callbacks(execute=True):
            customer_merge(survivor=first, merged=second, choices={}, user=admin_user)
        with django_capture_on_commit_callbacks(execute=True):
            pool_customer_release(
                customer=Customer.objects.get(pk=first.pk), user=teammate, reason="不再跟进"
            )
        with django_capture_on_commit_callbacks(execute=True):
            pool_customer_claim(customer=Customer.objects.get(pk=first.pk), user=rep)
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [(e["event"], e["id"]) for e in events] == [
        ("customer.updated", first.pk),
        ("customer.updated", second.pk),
        ("customer.updated", first.pk),  # the merge's survivor
        ("customer.updated", first.pk),  # released to the pool
        ("customer.updated", first.pk),  # claimed
    ]
    assert events[0]["payload"]["owner"] == teammate.pk
    assert events[-1]["payload"]["owner"] == rep.pk


def test_bulk_changes_read_nothing_more_when_nobody_listens(rep, manager, django_assert_max_num_queries):
    from customers.models import Customer
    from customers.services import customers_bulk_assign_owner
    from customers.tests.factories import CustomerFactory

    customers = [CustomerFactory(owner=manager) for _ in range(5)]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        customers_bulk_assign_owner(
            customers=Customer.objects.filter(pk__in=[c.pk for c in customers]), owner=rep, user=manager
        )
    assert not any(
        "core_webhookendpoint" in q["sql"] and "customers_customer" in q["sql"]
        for q in queries.captured_queries
    )
    assert (
        sum('FROM "customers_customer"' in q["sql"] and "WHERE" in q["sql"] for q in queries.captured_queries)
        < 5
    )
