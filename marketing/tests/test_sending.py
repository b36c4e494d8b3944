"""Campaign sending: consent and unsubscribe respected, personalisation, idempotent retries,
totals, the timeline, scheduling, care campaigns, permissions."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone, translation

from customers.models import ConsentRecord, Customer
from customers.services import consent_record_change
from customers.tests.factories import CustomerFactory
from customers.timeline import customer_timeline
from marketing import services
from marketing.gateways import LoggingSmsBackend
from marketing.models import Campaign, CampaignRecipient, Channel, Segment
from marketing.tests.factories import consenting, make_campaign, make_template
from sales.tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "marketing.gateways.LoggingSmsBackend"
    LoggingSmsBackend.sent.clear()


def test_only_consenting_customers_who_did_not_unsubscribe_are_sent_to(
    manager, rep, django_capture_on_commit_callbacks
):
    ok = consenting(rep, name="同意")
    CustomerFactory(owner=rep, name="未同意", email="no@example.com")
    withdrawn = consenting(rep, name="退订")
    consent_record_change(
        customer=withdrawn, granted=False, source=ConsentRecord.Source.UNSUBSCRIBE, user=None
    )
    email_only_withdrawn = consenting(rep, name="仅退邮件")
    consent_record_change(
        customer=email_only_withdrawn,
        granted=False,
        source="email",
        user=None,
        channel=ConsentRecord.Channel.EMAIL,
    )
    consenting(rep, name="无邮箱", email="")
    campaign = make_campaign(manager)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.campaign_start(campaign=campaign, user=manager)
    assert [m.to for m in mail.outbox] == [[ok.email]]
    campaign.refresh_from_db()
    assert (campaign.status, campaign.total, campaign.sent_count, campaign.skipped_count) == ("done", 5, 1, 4)
    reasons = dict(campaign.recipients.values_list("customer__name", "reason"))
    assert reasons == {
        "同意": "",
        "未同意": "no_consent",
        "退订": "no_consent",
        "仅退邮件": "unsubscribed",
        "无邮箱": "no_address",
    }


def test_someone_who_unsubscribes_after_the_snapshot_is_never_sent_to(manager, rep):
    first, second = consenting(rep), consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    services.customer_unsubscribe(customer=second)
    services.campaign_send_batch(campaign_id=campaign.pk)
    assert [m.to for m in mail.outbox] == [[first.email]]
    assert campaign.recipients.get(customer=second).status == "skipped"


def test_messages_are_personalised_in_bulk_without_a_query_per_recipient(
    manager, rep, django_assert_max_num_queries
):
    rep.first_name, rep.last_name = "", ""
    rep.save()
    customers = [consenting(rep, name=f"客户{i}", value_tier="vip") for i in range(6)]
    product = make_product(name="绿茶礼盒")
    make_order(customers[0], rep, lines=[(product, 1)], ordered_at=timezone.now() - timedelta(days=3))
    make_order(
        customers[0],
        rep,
        lines=[(make_product(name="红茶"), 1)],
        ordered_at=timezone.now() - timedelta(days=9),
    )
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    with translation.override("zh-hans"), django_assert_max_num_queries(30):
        services.campaign_send_batch(campaign_id=campaign.pk, batch_size=100)
    assert len(mail.outbox) == 6
    first = next(m for m in mail.outbox if m.to == [customers[0].email])
    assert first.subject == "客户0，您好"
    assert (
        f"您的顾问{rep.username}" in first.body and "上次购买：绿茶礼盒" in first.body and "VIP" in first.body
    )
    assert "/marketing/unsubscribe/" in first.body
    assert first.extra_headers["List-Unsubscribe"].startswith("<http")
    assert first.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sending_sms_goes_through_the_pluggable_gateway(manager, rep, django_capture_on_commit_callbacks):
    customer = consenting(rep, name="短信")
    campaign = make_campaign(
        manager, template=make_template(manager, channel=Channel.SMS, body="{{ name }}，新品到店")
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(campaign=campaign, user=manager)
    assert list(LoggingSmsBackend.sent) == [{"to": customer.mobile, "text": "短信，新品到店"}]
    assert mail.outbox == []


def test_a_retried_batch_never_sends_a_recipient_twice(manager, rep):
    for _ in range(5):
        consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    services.campaign_snapshot_recipients(campaign=campaign)  # a second snapshot adds nobody
    assert campaign.recipients.count() == 5
    # A run that crashed after claiming two recipients (they stay "sending").
    claimed = list(campaign.recipients.order_by("id")[:2])
    CampaignRecipient.objects.filter(pk__in=[r.pk for r in claimed]).update(status="sending")
    result = services.campaign_send_batch(campaign_id=campaign.pk, batch_size=2)
    assert result.sent == 2 and result.remaining == 1
    services.campaign_send_batch(campaign_id=campaign.pk, batch_size=2)
    services.campaign_send_batch(campaign_id=campaign.pk, batch_size=2)  # the retry: nothing left
    assert len(mail.outbox) == 3
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("done", 3, 2)
    assert set(campaign.recipients.filter(status="failed").values_list("error", flat=True)) == {"interrupted"}


def test_a_failing_gateway_marks_the_recipient_failed_and_goes_on(manager, rep, settings):
    settings.EMAIL_BACKEND = "marketing.tests.test_sending.BrokenBackend"
    consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    services.campaign_send_batch(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count) == ("done", 1)
    assert "refused" in campaign.recipients.get().error


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("relay refused")


def test_each_send_appears_on_the_customers_timeline(manager, rep, django_capture_on_commit_callbacks):
    customer = consenting(rep)
    campaign = make_campaign(manager, name="春季活动")
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(campaign=campaign, user=manager)
    with translation.override("en"):
        entries = [e for e in customer_timeline(customer, rep) if e.kind == "marketing"]
    assert len(entries) == 1 and "春季活动" in entries[0].title and "sent" in entries[0].title


def test_a_campaign_reaches_only_customers_the_sender_may_see(
    manager, other_rep, rep, django_capture_on_commit_callbacks
):
    mine = consenting(rep)
    consenting(other_rep)
    campaign = make_campaign(manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(campaign=campaign, user=manager)
    assert [m.to for m in mail.outbox] == [[mine.email]]


def test_scheduled_campaigns_start_when_due(manager, rep, django_capture_on_commit_callbacks):
    consenting(rep)
    campaign = make_campaign(manager)
    at = timezone.now() + timedelta(hours=1)
    assert services.campaign_schedule(campaign=campaign, at=at, user=manager)
    assert services.campaigns_start_due() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.campaigns_start_due(now=at + timedelta(seconds=1)) == 1
    campaign.refresh_from_db()
    assert campaign.status == "done" and len(mail.outbox) == 1
    assert services.campaigns_start_due(now=at + timedelta(minutes=5)) == 0


def test_send_view_confirms_then_sends_and_audits(client, manager, rep, django_capture_on_commit_callbacks):
    from core.models import AuditLog

    consenting(rep)
    campaign = make_campaign(manager)
    client.force_login(manager)
    response = client.post(f"/marketing/campaigns/{campaign.pk}/send/", {})
    assert response.status_code == 200 and response.context["audience"] == (1, False)
    assert len(mail.outbox) == 0
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/marketing/campaigns/{campaign.pk}/send/", {"confirmed": "on"})
    campaign.refresh_from_db()
    assert campaign.status == "done" and len(mail.outbox) == 1
    assert AuditLog.objects.filter(
        object_type="marketing.campaign", details__action_name="campaign_send"
    ).exists()
    # A second send does nothing.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/marketing/campaigns/{campaign.pk}/send/", {"confirmed": "on"})
    assert len(mail.outbox) == 1


def test_a_bad_schedule_date_is_refused_and_changes_nothing(client, manager):
    campaign = make_campaign(manager)
    client.force_login(manager)
    response = client.post(
        f"/marketing/campaigns/{campaign.pk}/send/",
        {"scheduled_at": "not a date", "confirmed": "on"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Enter a valid date and time." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_reps_may_not_send_campaigns(client, rep, manager):
    campaign = make_campaign(manager)
    client.force_login(rep)
    assert client.post(f"/marketing/campaigns/{campaign.pk}/send/", {"confirmed": "on"}).status_code == 403
    assert client.get("/marketing/campaigns/new/").status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_test_send_goes_to_the_users_own_address(client, manager):
    manager.email = "manager@example.com"
    manager.save()
    template = make_template(manager)
    client.force_login(manager)
    client.post(f"/marketing/templates/{template.pk}/test/")
    assert [m.to for m in mail.outbox] == [["manager@example.com"]]
    assert "unsubscribe" not in mail.outbox[0].body


def test_unknown_placeholders_are_refused(client, manager):
    client.force_login(manager)
    response = client.post(
        "/marketing/templates/new/",
        {"name": "x", "channel": "email", "subject": "hi", "body": "{{ customer.mobile }} {{ secret }}"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "Unknown placeholder: secret" in response.content.decode()


def test_cancel_is_confirmed_and_skips_what_is_queued(client, manager, rep):
    consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    client.force_login(manager)
    assert client.get(f"/marketing/campaigns/{campaign.pk}/cancel/").status_code == 200
    client.post(f"/marketing/campaigns/{campaign.pk}/cancel/")
    services.campaign_send_batch(campaign_id=campaign.pk)
    assert mail.outbox == []
    assert campaign.recipients.get().status == "skipped"


# --- care campaigns ------------------------------------------------------------------------


def test_birthday_care_campaign_sends_once_per_year_with_consent(
    manager, rep, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    born = (
        today.replace(year=1990) if not (today.month == 2 and today.day == 29) else today.replace(year=1992)
    )
    greeted = consenting(rep, birthday=born)
    CustomerFactory(owner=rep, birthday=born, email="x@example.com")  # no consent
    consenting(rep, birthday=born, care_opt_out=True)
    campaign = make_campaign(manager, kind=Campaign.Kind.CARE, trigger=Campaign.Trigger.BIRTHDAY)
    services.care_campaign_set_active(campaign=campaign, active=True, user=manager)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.care_campaigns_run(today=today)
    assert [m.to for m in mail.outbox] == [[greeted.email]]


def test_churn_warning_and_first_order_care_campaigns(manager, rep, django_capture_on_commit_callbacks):
    flagged = consenting(rep)
    Customer.objects.filter(pk=flagged.pk).update(churn_flagged_at=timezone.now())
    buyer = consenting(rep)
    make_order(buyer, rep)
    churn = make_campaign(
        manager, kind=Campaign.Kind.CARE, trigger=Campaign.Trigger.CHURN_WARNING, name="挽回"
    )
    first = make_campaign(manager, kind=Campaign.Kind.CARE, trigger=Campaign.Trigger.FIRST_ORDER, name="首单")
    make_campaign(manager, kind=Campaign.Kind.CARE, trigger=Campaign.Trigger.BIRTHDAY, name="未开启")
    for c in (churn, first):
        services.care_campaign_set_active(campaign=c, active=True, user=manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.care_campaigns_run()
    with django_capture_on_commit_callbacks(execute=True):
        services.care_campaigns_run()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([flagged.email, buyer.email])
    assert churn.recipients.get().customer == flagged
    assert first.recipients.get().customer == buyer


def test_segment_in_use_cannot_be_deleted(manager):
    campaign = make_campaign(manager)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.segment_delete(segment=campaign.segment, user=manager)
    assert Segment.objects.filter(pk=campaign.segment_id).exists()


def test_merging_two_customers_in_the_same_list_and_campaign_keeps_one_of_each(manager, rep):
    from customers.services import customer_merge

    survivor, merged = consenting(rep, name="甲"), consenting(rep, name="乙")
    segment = services.segment_create(user=rep, name="list", kind=Segment.Kind.STATIC)
    services.segment_add_members(segment=segment, customers=Customer.objects.filter(owner=rep), user=rep)
    campaign = make_campaign(manager, segment=segment)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    customer_merge(survivor=survivor, merged=merged, choices={}, user=manager, request=None)
    assert list(segment.memberships.values_list("customer_id", flat=True)) == [survivor.pk]
    assert list(campaign.recipients.values_list("customer_id", flat=True)) == [survivor.pk]


def test_a_failed_send_does_not_store_the_address(manager, rep, settings):
    settings.EMAIL_BACKEND = "marketing.tests.test_sending.AddressQuotingBackend"
    customer = consenting(rep)
    campaign = make_campaign(manager)
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    services.campaign_snapshot_recipients(campaign=campaign)
    services.campaign_send_batch(campaign_id=campaign.pk)
    error = campaign.recipients.get().error
    assert customer.email not in error and "***" in error


class AddressQuotingBackend(BrokenBackend):
    def send_messages(self, messages):
        raise OSError(f"recipient refused: {messages[0].to[0]}")


def test_an_sms_templates_test_arrives_by_email_and_a_refusal_is_shown(client, manager, settings):
    manager.email = "manager@example.com"
    manager.save()
    template = make_template(manager, channel=Channel.SMS, name="短信模板", body="{{ name }}，新品到店")
    client.force_login(manager)
    client.post(f"/marketing/templates/{template.pk}/test/")
    assert mail.outbox[0].to == ["manager@example.com"] and "新品到店" in mail.outbox[0].body
    assert not LoggingSmsBackend.sent
    settings.EMAIL_BACKEND = "marketing.tests.test_sending.BrokenBackend"
    response = client.post(
        f"/marketing/templates/{template.pk}/test/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "The test message could not be sent: OSError" in response.content.decode()


def test_the_commands_run_the_jobs_and_record_them(manager, rep):
    from django.core.management import call_command

    from core.models import JobRun

    call_command("start_due_campaigns")
    call_command("care_campaigns", "--date", "2026-03-01")
    assert set(JobRun.objects.values_list("name", flat=True)) == {"start_due_campaigns", "care_campaigns"}
