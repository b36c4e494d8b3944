"""Segments (saved groups of customers) and campaigns (messages sent to a segment).

A dynamic segment is a saved query string of the customer ledger's filters (CustomerFilter);
a static segment lists its members. Either way its members are always evaluated through the
viewer's Customer.objects.visible_to(), so a segment never shows anyone a customer outside
their scope (marketing.selectors.segment_members).
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

# The placeholders a message template may use: {{ name }}, {{ owner }}, {{ last_product }},
# {{ tier }}. A restricted format, not a template engine: a template written in the CRM can
# read nothing else.
PLACEHOLDERS = ("name", "owner", "last_product", "tier")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-zA-Z_]+)\s*\}\}")


def validate_placeholders(text: str) -> None:
    unknown = sorted({m for m in PLACEHOLDER_RE.findall(text) if m not in PLACEHOLDERS})
    if unknown:
        raise ValidationError(
            _("Unknown placeholder: %(names)s. Use %(allowed)s."),
            params={
                "names": ", ".join(unknown),
                "allowed": ", ".join("{{ " + p + " }}" for p in PLACEHOLDERS),
            },
            code="unknown_placeholder",
        )


class SegmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Own segments; managers and admins (who send campaigns) see every segment, whose
        members they still only see within their own customer scope."""
        if not user.is_active:
            return self.none()
        if user.is_superuser or user.has_perm("marketing.send_campaign"):
            return self
        return self.filter(created_by=user)


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic (saved filters)")
        STATIC = "static", _("Static list")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # The customer ledger's filter query string (dynamic segments only).
    query = models.TextField(_("filters"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), related_name="+", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    members = models.ManyToManyField(Customer, through="SegmentMember", related_name="+")

    objects = SegmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]
        indexes = [
            # The segment list of a rep (own segments, by name).
            models.Index(fields=["created_by", "name"], name="segment_creator_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_static(self) -> bool:
        return self.kind == self.Kind.STATIC


class SegmentMember(models.Model):
    segment = models.ForeignKey(Segment, related_name="memberships", on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, related_name="segment_memberships", on_delete=models.CASCADE)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    added_at = models.DateTimeField(auto_now_add=True)

    # A customer merge keeps one membership per list (customers.services.customer_merge).
    MERGE_UNIQUE_WITH = ("segment",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_unique"),
        ]
        # The unique constraint's index serves "members of a segment"; this one the
        # customer's memberships (cascade on delete, merges).
        indexes = [models.Index(fields=["customer"], name="segment_member_customer_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id} ∋ {self.customer_id}"


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class MessageTemplate(models.Model):
    """A personalised message: subject (email only) and body with placeholders."""

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(_("subject"), max_length=200, blank=True, validators=[validate_placeholders])
    body = models.TextField(_("message"), validators=[validate_placeholders])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), related_name="+", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.channel == Channel.EMAIL and not self.subject.strip():
            raise ValidationError({"subject": _("An email needs a subject.")})


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Campaigns are for those who may send them: their own; admins see all."""
        if not user.is_active or not user.has_perm("marketing.send_campaign"):
            return self.none()
        if user.is_superuser or user.has_perm("customers.view_all_customers"):
            return self
        return self.filter(created_by=user)


class Campaign(models.Model):
    class Kind(models.TextChoices):
        BROADCAST = "broadcast", _("To a segment")
        CARE = "care", _("Care (triggered by an event)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")
        # Care campaigns run every day while active.
        ACTIVE = "active", _("Active")

    class Trigger(models.TextChoices):
        NONE = "", _("None")
        BIRTHDAY = "birthday", _("Birthday")
        FIRST_ORDER = "first_order", _("First order")
        CHURN_WARNING = "churn_warning", _("Churn warning")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BROADCAST)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, blank=True)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        related_name="campaigns",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("template"), related_name="campaigns", on_delete=models.PROTECT
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), related_name="+", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Totals, kept by the sending task.
    total = models.PositiveIntegerField(_("recipients"), default=0)
    sent_count = models.PositiveIntegerField(_("sent"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        permissions = [("send_campaign", _("Can create and send marketing campaigns"))]
        indexes = [
            # The beat job: scheduled campaigns that are due.
            models.Index(fields=["scheduled_at"], name="campaign_due_idx", condition=Q(status="scheduled")),
            # The campaign list, newest first, per creator.
            models.Index(fields=["created_by", "-created_at"], name="campaign_creator_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="care", trigger__gt="") | Q(kind="broadcast", segment__isnull=False),
                name="campaign_target_given",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    """One customer of a campaign: snapshot when sending starts, then sent / failed / skipped.

    `occurrence` tells apart the occasions of a care campaign (a birthday each year, a churn
    warning each time it is raised); "" for a broadcast. Unique per campaign, customer and
    occurrence, so nobody is queued twice, however often the task runs.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), related_name="recipients", on_delete=models.CASCADE
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="campaign_messages", on_delete=models.CASCADE
    )
    occurrence = models.CharField(max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    queued_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    # A customer merge keeps the survivor's message of a campaign and occasion.
    MERGE_UNIQUE_WITH = ("campaign", "occurrence")

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer", "occurrence"], name="campaign_recipient_unique"
            )
        ]
        indexes = [
            # The sending task claims queued recipients of a campaign; the detail page
            # lists recipients by status.
            models.Index(fields=["campaign", "status", "id"], name="recipient_status_idx"),
            # The customer's timeline: their messages, newest first.
            models.Index(fields=["customer", "-queued_at"], name="recipient_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.customer_id}: {self.status}"
