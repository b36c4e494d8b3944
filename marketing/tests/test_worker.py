"""A campaign sent through the real path: the task on the test Redis, a real Celery worker,
Django's locmem email backend and the logging SMS backend."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from core.tests.test_celery import real_broker  # noqa: F401 - fixture
from customers.tests.factories import CustomerFactory
from marketing import services
from marketing.gateways import LoggingSmsBackend
from marketing.models import Campaign, Channel
from marketing.tests.factories import consenting, make_campaign, make_template


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_campaign_in_rate_limited_batches(
    real_broker,  # noqa: F811
    rep,
    manager,
    settings,
    monkeypatch,
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "marketing.gateways.LoggingSmsBackend"
    # Batches of 3, one every 3 × 60 / 600 = 0.3 s.
    settings.CAMPAIGN_RATE_PER_MINUTE = 600
    monkeypatch.setattr(services, "campaign_batch_size", lambda: 3)
    LoggingSmsBackend.sent.clear()
    mail.outbox = []
    for i in range(7):
        consenting(rep, name=f"客户{i}")
    CustomerFactory(owner=rep, name="未同意", email="no@example.com", mobile="13900000000")
    email_campaign = make_campaign(manager, name="邮件")
    sms_campaign = make_campaign(
        manager, name="短信", template=make_template(manager, channel=Channel.SMS, body="{{ name }}，您好")
    )

    def wait_for_done(campaign):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.DONE:
                return
            time.sleep(0.2)
        raise AssertionError(f"campaign stayed {campaign.status}: {campaign.sent_count} sent")

    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert services.campaign_start(campaign=email_campaign, user=manager)
        assert services.campaign_start(campaign=sms_campaign, user=manager)
        wait_for_done(email_campaign)
        wait_for_done(sms_campaign)
    for campaign in (email_campaign, sms_campaign):
        assert (campaign.total, campaign.sent_count, campaign.failed_count, campaign.skipped_count) == (
            8,
            7,
            0,
            1,
        )
    assert sorted(m.subject for m in mail.outbox) == sorted(f"客户{i}，您好" for i in range(7))
    assert sorted(s["text"] for s in LoggingSmsBackend.sent) == sorted(f"客户{i}，您好" for i in range(7))
