"""The signed one-click unsubscribe link: no login, tamper-proof, records the withdrawal."""

import pytest
from django.core import signing
from django.utils import translation

from customers.models import ConsentRecord
from marketing import services
from marketing.models import Campaign, CampaignRecipient
from marketing.tests.factories import consenting, make_campaign

pytestmark = pytest.mark.django_db


def _path(customer) -> str:
    return services.unsubscribe_url(customer).split("localhost:8000", 1)[1]


def test_the_link_asks_then_unsubscribes_without_login(client, rep):
    customer = consenting(rep)
    path = _path(customer)
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and "Stop receiving marketing messages" in response.content.decode()
    customer.refresh_from_db()
    assert customer.marketing_consent  # opening the link (or a mail scanner) changes nothing
    response = client.post(path, HTTP_ACCEPT_LANGUAGE="en")
    assert "You are unsubscribed" in response.content.decode()
    customer.refresh_from_db()
    assert not customer.marketing_consent
    record = customer.consent_records.order_by("-at", "-id").first()
    assert (record.granted, record.source, record.channel) == (False, "unsubscribe", "all")
    # A second click records nothing more.
    client.post(path)
    assert customer.consent_records.filter(source="unsubscribe").count() == 1


def test_the_confirmation_page_is_in_chinese_too(client, rep):
    customer = consenting(rep)
    response = client.post(_path(customer), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-hans"


def test_one_click_post_from_a_mail_client_needs_no_csrf_token(rep):
    from django.test import Client

    customer = consenting(rep)
    Client(enforce_csrf_checks=True).post(_path(customer), {"List-Unsubscribe": "One-Click"})
    customer.refresh_from_db()
    assert not customer.marketing_consent


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token, pk: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token, pk: signing.dumps(pk + 1, salt="another.salt"),
        lambda token, pk: signing.dumps(pk, salt=services.UNSUBSCRIBE_SALT, key="not the secret key"),
        lambda token, pk: "garbage",
    ],
)
def test_a_tampered_link_is_refused_and_changes_nothing(client, rep, tamper):
    customer = consenting(rep)
    token = services.unsubscribe_url(customer).rstrip("/").rsplit("/", 1)[1]
    with translation.override("en"):
        response = client.post(
            f"/marketing/unsubscribe/{tamper(token, customer.pk)}/", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    customer.refresh_from_db()
    assert customer.marketing_consent
    assert not ConsentRecord.objects.filter(source="unsubscribe").exists()


def test_unsubscribing_skips_what_is_still_queued(client, rep, manager):
    customer = consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    client.post(_path(customer))
    assert campaign.recipients.get().status == CampaignRecipient.Status.SKIPPED


def test_the_access_export_lists_marketing_messages_and_lists(rep, manager):
    from customers.privacy import privacy_sheets

    customer = consenting(rep)
    campaign = make_campaign(manager, name="春季活动")
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    with translation.override("en"):
        sheets = {s.key: s for s in privacy_sheets(customer)}
    assert sheets["marketing_messages"].rows[0][0] == "春季活动"
    assert sheets["marketing_lists"].rows == []
