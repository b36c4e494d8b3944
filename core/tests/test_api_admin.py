"""The Django admin's API token and webhook pages: secrets shown once, SSRF refused, the
delivery log and the manual re-send."""

import pytest
from django.contrib.messages import get_messages

from core.api_auth import hash_token
from core.models import ApiToken, AuditLog, WebhookDelivery, WebhookEndpoint


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_an_admin_makes_a_token_for_someone_and_sees_it_once(client, admin_user, rep):
    client.force_login(admin_user)
    response = client.post(
        "/admin/core/apitoken/add/", {"user": rep.pk, "name": "ERP", "expires_at_0": "", "expires_at_1": ""}
    )
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=rep)
    raw = response.context["secret"]
    assert raw.startswith("crm_") and token.key_hash == hash_token(raw)
    assert not any("crm_" in m for m in _messages(response))
    entry = AuditLog.objects.get(action=AuditLog.Action.API_TOKEN_CREATE)
    assert entry.actor == admin_user and entry.details["user"] == rep.pk


def test_an_admin_revokes_tokens_with_the_action(client, admin_user, rep):
    from core.api_auth import api_token_create

    token, _raw = api_token_create(user=rep, name="ERP")
    client.force_login(admin_user)
    client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_an_admin_registers_a_webhook_and_sees_the_secret_once(client, admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(admin_user)
    refused = client.post(
        "/admin/core/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9000/hook", "events": ["order.created"], "active": "on"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert "private, loopback or link-local" in refused.content.decode()

    settings.WEBHOOK_ALLOW_PRIVATE = True
    response = client.post(
        "/admin/core/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9000/hook", "events": ["order.created", "opportunity.won"], "active": "on"},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["order.created", "opportunity.won"]
    assert response.context["secret"] == endpoint.secret and endpoint.secret in response.content.decode()
    assert AuditLog.objects.filter(action=AuditLog.Action.WEBHOOK_CREATE).count() == 1


@pytest.mark.parametrize("persona", ["rep", "manager", "service"])
def test_only_admins_see_webhooks_and_tokens_in_the_admin(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    for path in ("/admin/core/webhookendpoint/", "/admin/core/webhookdelivery/", "/admin/core/apitoken/"):
        assert client.get(path).status_code == 302  # to the admin login: not staff


def test_the_delivery_log_lists_attempts_and_re_sends(
    client, admin_user, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/closed", events=["order.created"], secret="s"
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="order.created", body="{}")
    from core.tasks import webhook_deliver

    webhook_deliver(delivery.pk)  # port 9 refuses: one failed attempt, logged
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.attempt_log.get().error
    client.force_login(admin_user)
    assert client.get("/admin/core/webhookdelivery/").status_code == 200
    page = client.get(f"/admin/core/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and "Connection refused" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/admin/core/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.count() == 2
    assert AuditLog.objects.filter(action=AuditLog.Action.WEBHOOK_RESEND).count() == 1
