"""Writes of the marketing app: segments, campaigns, sending, unsubscribing.

Sending is at most once per recipient: a batch first claims its recipients (queued →
sending, committed), then sends, then records sent or failed. A task retried after a crash
finds those recipients no longer queued and never sends them again; a recipient left in
"sending" by a crash is closed as failed ("interrupted") rather than risk a second message.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_log
from core.models import AuditLog, User
from customers.models import ConsentRecord, Customer
from customers.services import consent_record_change
from marketing import gateways
from marketing.models import Campaign, CampaignRecipient, Channel, MessageTemplate, Segment, SegmentMember
from marketing.selectors import personalisation, reachable, render_text, segment_members, skip_reason

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "marketing.unsubscribe"
# Recipients snapshot per query when a campaign starts.
SNAPSHOT_BATCH = 1000


# --- segments ----------------------------------------------------------------------------


@transaction.atomic
def segment_create(*, user: User, name: str, kind: str, query: str = "") -> Segment:
    segment = Segment(name=name.strip(), kind=kind, query=query if kind == Segment.Kind.DYNAMIC else "")
    segment.created_by = user
    segment.full_clean()
    segment.save()
    return segment


@transaction.atomic
def segment_add_members(*, segment: Segment, customers: QuerySet, user: User) -> int:
    """Add the customers (already scoped to what `user` sees) to a static segment; returns
    how many were new. Customers already in it are left as they are."""
    if not segment.is_static:
        raise ValidationError(_("Customers can be added to a static list only."))
    existing = set(segment.memberships.values_list("customer_id", flat=True))
    ids = [pk for pk in customers.values_list("pk", flat=True) if pk not in existing]
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=segment, customer_id=pk, added_by=user) for pk in ids], ignore_conflicts=True
    )
    return len(ids)


@transaction.atomic
def segment_remove_members(*, segment: Segment, customer_ids: list[int], user: User) -> int:
    """Remove members; only those `user` may see (the others stay, unseen)."""
    visible = Customer.objects.visible_to(user).filter(pk__in=customer_ids).values("pk")
    removed, _by_model = SegmentMember.objects.filter(segment=segment, customer_id__in=visible).delete()
    return removed


@transaction.atomic
def segment_delete(*, segment: Segment, user: User, request=None) -> None:
    if segment.campaigns.exists():
        raise ValidationError(_("This segment has campaigns; it cannot be deleted."))
    audit_log(actor=user, action=AuditLog.Action.DELETE, obj=segment, request=request, kind=segment.kind)
    segment.delete()


# --- campaigns ---------------------------------------------------------------------------


@transaction.atomic
def campaign_create(*, user: User, data: dict) -> Campaign:
    campaign = Campaign(created_by=user, **data)
    campaign.channel = campaign.template.channel
    if campaign.kind == Campaign.Kind.CARE:
        campaign.segment = None
        campaign.status = Campaign.Status.DRAFT
    campaign.full_clean()
    campaign.save()
    return campaign


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, at, user: User, request=None) -> bool:
    """Send at `at` (or now when `at` is None or past). Only a draft or scheduled broadcast;
    returns False when it already started. Starting now enqueues the task after commit."""
    now = timezone.now()
    if at is None or at <= now:
        return campaign_start(campaign=campaign, user=user, request=request)
    changed = Campaign.objects.filter(
        pk=campaign.pk,
        kind=Campaign.Kind.BROADCAST,
        status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED],
    ).update(status=Campaign.Status.SCHEDULED, scheduled_at=at)
    if changed:
        audit_log(
            actor=user,
            action=AuditLog.Action.BULK_ACTION,
            obj=campaign,
            request=request,
            action_name="campaign_schedule",
            at=at.isoformat(),
        )
    return bool(changed)


@transaction.atomic
def campaign_start(*, campaign: Campaign, user: User | None, request=None) -> bool:
    """Claim the campaign (draft/scheduled → sending: one row changes, once) and enqueue the
    task that snapshots its recipients and sends them, after commit. The snapshot runs in
    the worker, not in the request: a segment may hold many customers."""
    from marketing.tasks import start_campaign

    changed = Campaign.objects.filter(
        pk=campaign.pk,
        kind=Campaign.Kind.BROADCAST,
        status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED],
    ).update(status=Campaign.Status.SENDING, started_at=timezone.now())
    if not changed:
        return False
    if user is not None:
        audit_log(
            actor=user,
            action=AuditLog.Action.BULK_ACTION,
            obj=campaign,
            request=request,
            action_name="campaign_send",
        )
    transaction.on_commit(lambda: start_campaign.delay(campaign.pk))
    return True


def campaign_snapshot_recipients(*, campaign: Campaign) -> None:
    """Every member of the segment (seen by the campaign's creator) becomes a recipient:
    queued when reachable, skipped with the reason otherwise. Reads in batches; running it
    again (a retried task) adds nobody twice."""
    members = segment_members(campaign.segment, campaign.created_by).only(
        "pk", "marketing_consent", "anonymised_at", "email_bidx", "mobile_bidx"
    )
    _queue(campaign, members, occurrence=lambda c: "")


def _queue(campaign: Campaign, customers: QuerySet, occurrence) -> int:
    """Recipients for `customers` (queued or skipped), ignoring those already there; returns
    how many recipients are new. Updates the campaign's totals."""
    before = campaign.recipients.count()
    last_pk = 0
    while True:
        batch = list(customers.filter(pk__gt=last_pk).order_by("pk")[:SNAPSHOT_BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        ok = set(
            reachable(Customer.objects.filter(pk__in=[c.pk for c in batch]), campaign.channel).values_list(
                "pk", flat=True
            )
        )
        rows = []
        for customer in batch:
            reason = skip_reason(customer, campaign.channel, ok)
            rows.append(
                CampaignRecipient(
                    campaign=campaign,
                    customer=customer,
                    occurrence=occurrence(customer),
                    status=CampaignRecipient.Status.SKIPPED if reason else CampaignRecipient.Status.QUEUED,
                    reason=reason,
                )
            )
        CampaignRecipient.objects.bulk_create(rows, ignore_conflicts=True)
    _refresh_totals(campaign)
    return campaign.recipients.count() - before


def _refresh_totals(campaign: Campaign) -> None:
    S = CampaignRecipient.Status
    totals = campaign.recipients.aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(status=S.SENT)),
        failed=Count("id", filter=Q(status=S.FAILED)),
        skipped=Count("id", filter=Q(status=S.SKIPPED)),
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        total=totals["total"],
        sent_count=totals["sent"],
        failed_count=totals["failed"],
        skipped_count=totals["skipped"],
    )


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, user: User, request=None) -> bool:
    """Stop a campaign: queued recipients are skipped; those already sent stay sent."""
    changed = Campaign.objects.filter(
        pk=campaign.pk,
        status__in=[
            Campaign.Status.DRAFT,
            Campaign.Status.SCHEDULED,
            Campaign.Status.SENDING,
            Campaign.Status.ACTIVE,
        ],
    ).update(status=Campaign.Status.CANCELLED, finished_at=timezone.now())
    if not changed:
        return False
    campaign.recipients.filter(status=CampaignRecipient.Status.QUEUED).update(
        status=CampaignRecipient.Status.SKIPPED, reason="cancelled"
    )
    _refresh_totals(campaign)
    audit_log(
        actor=user,
        action=AuditLog.Action.BULK_ACTION,
        obj=campaign,
        request=request,
        action_name="campaign_cancel",
    )
    return True


@transaction.atomic
def care_campaign_set_active(*, campaign: Campaign, active: bool, user: User, request=None) -> None:
    campaign.status = Campaign.Status.ACTIVE if active else Campaign.Status.DRAFT
    campaign.save(update_fields=["status"])
    audit_log(
        actor=user,
        action=AuditLog.Action.BULK_ACTION,
        obj=campaign,
        request=request,
        action_name="care_campaign_activate" if active else "care_campaign_pause",
    )


# --- sending -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    remaining: int = 0


def campaign_batch_size() -> int:
    return max(1, min(settings.CAMPAIGN_RATE_PER_MINUTE, 100))


def campaign_send_batch(*, campaign_id: int, batch_size: int | None = None) -> BatchResult:
    """Send one batch of a campaign's queued recipients; when none remain, close it.

    Each recipient is claimed before sending (committed), so a retry never sends twice.
    Consent is checked again at this moment: someone who unsubscribed after the snapshot is
    skipped, never sent to.
    """
    batch_size = batch_size or campaign_batch_size()
    result = BatchResult()
    campaign = Campaign.objects.select_related("template").get(pk=campaign_id)
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.ACTIVE):
        return result
    S = CampaignRecipient.Status
    with transaction.atomic():
        claimed = list(
            campaign.recipients.select_for_update(skip_locked=True)
            .filter(status=S.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        CampaignRecipient.objects.filter(pk__in=claimed).update(status=S.SENDING)
    recipients = list(
        CampaignRecipient.objects.filter(pk__in=claimed).select_related("customer", "customer__owner")
    )
    customers = [r.customer for r in recipients]
    still_ok = set(
        reachable(Customer.objects.filter(pk__in=[c.pk for c in customers]), campaign.channel).values_list(
            "pk", flat=True
        )
    )
    values = personalisation(customers)
    backend = gateways.sms_backend() if campaign.channel == Channel.SMS else None
    for recipient in recipients:
        customer = recipient.customer
        reason = skip_reason(customer, campaign.channel, still_ok)
        if reason:
            CampaignRecipient.objects.filter(pk=recipient.pk).update(status=S.SKIPPED, reason=reason)
            result.skipped += 1
            continue
        try:
            deliver(template=campaign.template, customer=customer, values=values[customer.pk], sms=backend)
        except Exception as exc:  # any gateway failure is this recipient's failure
            logger.warning(
                "campaign %s: message to customer %s failed: %s", campaign.pk, customer.pk, type(exc).__name__
            )
            CampaignRecipient.objects.filter(pk=recipient.pk).update(
                status=S.FAILED, error=_error_text(exc, customer)
            )
            result.failed += 1
        else:
            CampaignRecipient.objects.filter(pk=recipient.pk).update(status=S.SENT, sent_at=timezone.now())
            result.sent += 1
    result.remaining = campaign.recipients.filter(status=S.QUEUED).count()
    _refresh_totals(campaign)
    if result.remaining == 0 and campaign.kind == Campaign.Kind.BROADCAST:
        # Anything still "sending" was claimed by a crashed run: closed, never re-sent.
        campaign.recipients.filter(status=S.SENDING).exclude(pk__in=claimed).update(
            status=S.FAILED, error="interrupted"
        )
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.DONE, finished_at=timezone.now()
        )
        _refresh_totals(campaign)
    return result


def _error_text(exc: Exception, customer: Customer) -> str:
    """The gateway's error, without the customer's address (SMTP errors quote it)."""
    text = f"{type(exc).__name__}: {exc}"
    for address in (customer.email, customer.mobile):
        if address:
            text = text.replace(address, "***")
    return text[:500]


def unsubscribe_url(customer: Customer) -> str:
    token = signing.dumps(customer.pk, salt=UNSUBSCRIBE_SALT)
    return settings.SITE_URL + reverse("marketing:unsubscribe", args=[token])


def unsubscribe_customer_id(token: str) -> int | None:
    """The customer of a signed unsubscribe token, or None when it was tampered with."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def deliver(
    *, template: MessageTemplate, customer: Customer | None, values: dict, sms=None, to: str = ""
) -> None:
    """Send one message rendered from `template` to the customer (or to `to`, a test send)."""
    body = render_text(template.body, values)
    if template.channel == Channel.SMS:
        (sms or gateways.sms_backend()).send(to=to or customer.mobile, text=body)
        return
    headers = {}
    if customer is not None:
        link = unsubscribe_url(customer)
        body += "\n\n" + _("Unsubscribe: %(url)s") % {"url": link}
        headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    subject = " ".join(render_text(template.subject, values).split())
    EmailMessage(subject, body, None, [to or customer.email], headers=headers).send()


def campaign_test_send(*, template: MessageTemplate, user: User) -> None:
    """Send the template to the user's own email address with sample values. Users have no
    phone number on record, so an SMS template's test arrives by email too (its text as the
    body). Raises ValidationError without an address or when the mail server refuses."""
    if not user.email:
        raise ValidationError(_("Your account has no email address to send the test to."))
    sample = {
        "name": _("Sample customer"),
        "owner": user.get_full_name() or user.username,
        "last_product": _("Sample product"),
        "tier": _("VIP"),
    }
    try:
        if template.channel == Channel.SMS:
            subject = _("SMS test: %(name)s") % {"name": template.name}
            EmailMessage(
                " ".join(subject.split()), render_text(template.body, sample), None, [user.email]
            ).send()
        else:
            deliver(template=template, customer=None, values=sample, to=user.email)
    except Exception as exc:  # the mail server's refusal, shown to the user
        raise ValidationError(
            _("The test message could not be sent: %(error)s") % {"error": type(exc).__name__}
        ) from exc


# --- unsubscribe -------------------------------------------------------------------------


@transaction.atomic
def customer_unsubscribe(*, customer: Customer) -> bool:
    """Withdraw marketing consent through the link; False when it was already withdrawn."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.marketing_consent:
        return False
    consent_record_change(
        customer=customer,
        granted=False,
        source=ConsentRecord.Source.UNSUBSCRIBE,
        user=None,
        channel=ConsentRecord.Channel.ALL,
    )
    # Nothing still queued for them goes out.
    CampaignRecipient.objects.filter(customer=customer, status=CampaignRecipient.Status.QUEUED).update(
        status=CampaignRecipient.Status.SKIPPED, reason="unsubscribed"
    )
    return True


# --- care campaigns ----------------------------------------------------------------------


def care_campaigns_run(*, today=None) -> dict[str, int]:
    """Queue every active care campaign's recipients for today's events (birthdays today,
    first orders of the last 2 days, churn warnings raised: one message per warning), then
    enqueue the sending task. Once per customer and occurrence (the recipient's unique key)."""
    from interactions.care import birth_dates_for
    from marketing.tasks import send_campaign_batch

    today = today or timezone.localdate()
    counts = {"campaigns": 0, "queued": 0, "sent": 0}
    for campaign in Campaign.objects.filter(
        kind=Campaign.Kind.CARE, status=Campaign.Status.ACTIVE
    ).select_related("created_by", "template"):
        counts["campaigns"] += 1
        scope = Customer.objects.visible_to(campaign.created_by).only(
            "pk",
            "marketing_consent",
            "anonymised_at",
            "email_bidx",
            "mobile_bidx",
            "churn_flagged_at",
            "birthday",
        )
        T = Campaign.Trigger
        if campaign.trigger == T.BIRTHDAY:
            customers = scope.filter(birthday__in=birth_dates_for(today), care_opt_out=False)
            occurrence = lambda c: f"birthday:{today.year}"  # noqa: E731
        elif campaign.trigger == T.FIRST_ORDER:
            since = timezone.now() - timedelta(days=2)
            customers = scope.filter(first_purchase_at__gte=since)
            occurrence = lambda c: "first_order"  # noqa: E731
        else:
            customers = scope.filter(churn_flagged_at__isnull=False)
            occurrence = lambda c: f"churn:{c.churn_flagged_at.date().isoformat()}"  # noqa: E731
        new = _queue(campaign, customers, occurrence)
        counts["queued"] += new
        if new:
            # Sent by the same rate-limited task as a broadcast.
            transaction.on_commit(lambda pk=campaign.pk: send_campaign_batch.delay(pk))
    return counts


def campaigns_start_due(*, now=None) -> int:
    """Start the scheduled campaigns whose time has come (the beat job)."""
    now = now or timezone.now()
    started = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now):
        started += campaign_start(campaign=campaign, user=None)
    return started
