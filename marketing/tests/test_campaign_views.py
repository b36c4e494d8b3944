"""Campaign and template pages: create, list (bounded queries), care switch, scoping."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketing import services
from marketing.models import Campaign, Segment
from marketing.tests.factories import make_campaign, make_template

pytestmark = pytest.mark.django_db


def test_a_manager_creates_a_campaign_for_a_segment(client, manager):
    segment = services.segment_create(
        user=manager, name="VIP", kind=Segment.Kind.DYNAMIC, query="value_tier=vip"
    )
    template = make_template(manager)
    client.force_login(manager)
    response = client.post(
        "/marketing/campaigns/new/",
        {"name": "VIP 回馈", "kind": "broadcast", "segment": segment.pk, "template": template.pk},
    )
    campaign = Campaign.objects.get(name="VIP 回馈")
    assert response["Location"] == f"/marketing/campaigns/{campaign.pk}/"
    assert (campaign.status, campaign.channel, campaign.created_by, campaign.trigger) == (
        "draft",
        "email",
        manager,
        "",
    )
    assert client.get(response["Location"]).status_code == 200


def test_a_broadcast_without_a_segment_is_refused_in_english(client, manager):
    template = make_template(manager)
    client.force_login(manager)
    response = client.post(
        "/marketing/campaigns/new/",
        {"name": "x", "kind": "broadcast", "template": template.pk},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "Choose the segment to send to." in response.content.decode()
    assert not Campaign.objects.exists()


def test_care_campaign_is_switched_on_and_paused(client, manager):
    campaign = make_campaign(manager, kind=Campaign.Kind.CARE, trigger=Campaign.Trigger.CHURN_WARNING)
    client.force_login(manager)
    client.post(f"/marketing/campaigns/{campaign.pk}/activate/", {"active": "on"})
    campaign.refresh_from_db()
    assert campaign.status == "active"
    client.post(f"/marketing/campaigns/{campaign.pk}/activate/", {})
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_another_managers_campaign_answers_404(client, manager, other_manager):
    campaign = make_campaign(manager)
    client.force_login(other_manager)
    assert client.get(f"/marketing/campaigns/{campaign.pk}/").status_code == 404
    assert client.post(f"/marketing/campaigns/{campaign.pk}/cancel/").status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_campaign_list_query_count_does_not_grow_with_the_campaigns(client, manager):
    client.force_login(manager)
    counts = {}
    for total in (2, 6):
        while Campaign.objects.count() < total:
            make_campaign(manager, name=f"c{Campaign.objects.count()}")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/marketing/campaigns/")
        assert response.status_code == 200
        counts[total] = len(ctx.captured_queries)
    # session, user, perms (2), paginator count, the page (segment and template joined),
    # unread notifications, tasks due, session save (3) — the same for any number.
    assert counts[2] == counts[6]
    assert counts[6] <= 14, counts


def test_campaign_detail_query_count_does_not_grow_with_the_recipients(client, manager, rep):
    from marketing.tests.factories import consenting

    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    client.force_login(manager)
    counts = {}
    for total in (2, 8):
        while campaign.recipients.count() < total:
            consenting(rep)
            services.campaign_snapshot_recipients(campaign=campaign)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/marketing/campaigns/{campaign.pk}/")
        assert response.status_code == 200
        counts[total] = len(ctx.captured_queries)
    assert counts[2] == counts[8], counts
