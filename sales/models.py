import re
import secrets
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from core.db import PostgresOnlyGinIndex
from core.models import Team
from customers.models import Customer, live_customer_q

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (what an invoice does)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --- products and orders ------------------------------------------------------------------


class Product(models.Model):
    name = models.CharField(_("name"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["active", "name"], name="product_active_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class OrderQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Orders of the customers the user may see, and orders they own."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(live_customer_q(user) | Q(owner=user))

    def counted(self):
        """Orders that count as purchases in the statistics."""
        return self.exclude(status__in=Order.EXCLUDED_FROM_STATS)


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        SHIPPED = "shipped", _("Shipped")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    class Channel(models.TextChoices):
        ONLINE = "online", _("Online shop")
        STORE = "store", _("Store")
        PHONE = "phone", _("Phone")
        WECHAT = "wechat", _("WeChat")
        SALES_REP = "sales_rep", _("Sales rep")
        DISTRIBUTOR = "distributor", _("Distributor")
        OTHER = "other", _("Other")

    EXCLUDED_FROM_STATS = (Status.CANCELLED, Status.REFUNDED)
    # A customer has bought once an order is paid (or beyond): lifecycle moves count these.
    PURCHASED = (Status.PAID, Status.SHIPPED, Status.COMPLETED)

    number = models.CharField(_("order number"), max_length=32, unique=True, editable=False)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="orders", on_delete=models.PROTECT
    )
    ordered_at = models.DateTimeField(_("ordered at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, default=Channel.SALES_REP
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        related_name="orders",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    notes = models.TextField(_("notes"), blank=True)
    total = models.DecimalField(
        _("total"), max_digits=14, decimal_places=2, default=Decimal("0"), editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-ordered_at", "-id"]
        permissions = [("export_order", _("Can export orders")), ("import_order", _("Can import orders"))]
        indexes = [
            # Orders list (default order) and its date-range filter.
            models.Index(fields=["-ordered_at", "-id"], name="order_ordered_idx"),
            # Purchase history of a customer, and the statistics aggregate.
            models.Index(fields=["customer", "-ordered_at"], name="order_customer_idx"),
            models.Index(fields=["status", "-ordered_at"], name="order_status_idx"),
            models.Index(fields=["owner", "-ordered_at"], name="order_owner_idx"),
            models.Index(fields=["total"], name="order_total_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_counted(self) -> bool:
        return self.status not in self.EXCLUDED_FROM_STATS


class OrderLine(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), related_name="order_lines", on_delete=models.PROTECT
    )
    quantity = models.DecimalField(
        _("quantity"), max_digits=12, decimal_places=3, validators=[MinValueValidator(Decimal("0.001"))]
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    discount = models.DecimalField(
        _("discount %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percent off this line, 0–100."),
    )

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]
        indexes = [models.Index(fields=["product", "order"], name="orderline_product_idx")]

    def __str__(self) -> str:
        return f"{self.product} × {self.quantity}"

    @property
    def line_total(self) -> Decimal:
        gross = Decimal(self.quantity) * Decimal(self.unit_price)
        return money(gross * (Decimal("100") - Decimal(self.discount)) / Decimal("100"))


# --- opportunities and the pipeline ------------------------------------------------------------


class PipelineStage(models.Model):
    """A stage of the sales pipeline, configured by admins."""

    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name (Chinese)"), max_length=50)
    name_en = models.CharField(_("name (English)"), max_length=50)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.OPEN)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    default_probability = models.PositiveSmallIntegerField(
        _("default probability %"), default=10, validators=[MaxValueValidator(100)]
    )
    # Automation: entering this stage creates a follow-up task for the owner.
    follow_up_days = models.PositiveSmallIntegerField(
        _("follow-up task after (days)"),
        null=True,
        blank=True,
        help_text=_(
            "Entering this stage creates a follow-up task for the owner, due this many days later. Empty: none."
        ),
    )
    follow_up_title = models.CharField(_("follow-up task title"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pipeline stage")
        verbose_name_plural = _("pipeline stages")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The stage name in the current language."""
        if (translation.get_language() or "").startswith("en") and self.name_en:
            return self.name_en
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != self.Kind.OPEN


class OpportunityQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(live_customer_q(user) | Q(owner=user))

    def open(self):
        return self.filter(stage__kind=PipelineStage.Kind.OPEN)


class Opportunity(models.Model):
    class Currency(models.TextChoices):
        CNY = "CNY", _("CNY (yuan)")
        USD = "USD", _("USD")
        EUR = "EUR", _("EUR")
        HKD = "HKD", _("HKD")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="opportunities", on_delete=models.CASCADE
    )
    title = models.CharField(_("title"), max_length=200)
    needs = models.TextField(_("customer needs"), blank=True)
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    stage = models.ForeignKey(
        PipelineStage, verbose_name=_("stage"), related_name="opportunities", on_delete=models.PROTECT
    )
    probability = models.PositiveSmallIntegerField(
        _("probability %"), default=10, validators=[MaxValueValidator(100)]
    )
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        related_name="opportunities",
        on_delete=models.PROTECT,
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        related_name="opportunities",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    source = models.CharField(_("source"), max_length=20, choices=Customer.Source.choices, blank=True)
    next_step = models.CharField(_("next step"), max_length=500, blank=True)
    lost_reason = models.CharField(_("lost reason"), max_length=500, blank=True)
    # Values of the custom fields defined for opportunities (core.custom_fields).
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)
    order = models.OneToOneField(
        Order,
        verbose_name=_("order"),
        related_name="opportunity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    stage_entered_at = models.DateTimeField(_("in this stage since"), default=timezone.now, editable=False)
    # Last interaction, stage change or edit: the "stale opportunity" rule watches it.
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now, editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-created_at", "-id"]
        permissions = [("export_opportunity", _("Can export opportunities"))]
        indexes = [
            # The board: cards of a stage, newest first; column totals group by stage.
            models.Index(fields=["stage", "-created_at"], name="opp_stage_idx"),
            models.Index(fields=["owner", "stage"], name="opp_owner_stage_idx"),
            models.Index(fields=["team", "stage"], name="opp_team_stage_idx"),
            # Forecast by expected-close month.
            models.Index(fields=["expected_close_date"], name="opp_close_date_idx"),
            # Customer page and timeline.
            models.Index(fields=["customer", "-created_at"], name="opp_customer_idx"),
            # "Closed between" filter, win rates and deals won per period (reports).
            models.Index(fields=["closed_at"], name="opp_closed_idx", condition=Q(closed_at__isnull=False)),
            # The stale-opportunity rule.
            models.Index(fields=["last_activity_at"], name="opp_last_activity_idx"),
            # Custom-field filters of the list: equality and containment (`custom @> …`).
            PostgresOnlyGinIndex(OpClass("custom", name="jsonb_path_ops"), name="opp_custom_gin_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def weighted_amount(self) -> Decimal:
        return money(self.amount * self.probability / Decimal("100"))


class OpportunityStageChange(models.Model):
    """One stage transition, with the time the opportunity spent in the stage it left."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), related_name="stage_changes", on_delete=models.CASCADE
    )
    from_stage = models.ForeignKey(
        PipelineStage,
        verbose_name=_("from"),
        related_name="+",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    to_stage = models.ForeignKey(
        PipelineStage, verbose_name=_("to"), related_name="+", on_delete=models.PROTECT
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    seconds_in_previous = models.PositiveBigIntegerField(_("time in previous stage (s)"), default=0)

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["opportunity", "changed_at"], name="opp_stage_change_idx")]

    def __str__(self) -> str:
        return f"{self.from_stage} → {self.to_stage}"


# --- automation rules --------------------------------------------------------------------------


class StaleOpportunityRule(models.Model):
    """An open opportunity with no activity for `days` gets a reminder task for its owner."""

    name = models.CharField(_("name"), max_length=100)
    days = models.PositiveSmallIntegerField(
        _("days without activity"), default=14, validators=[MinValueValidator(1)]
    )
    task_title = models.CharField(_("task title"), max_length=200, default="")
    due_in_days = models.PositiveSmallIntegerField(_("task due in (days)"), default=1)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("stale-opportunity rule")
        verbose_name_plural = _("stale-opportunity rules")

    def __str__(self) -> str:
        return self.name


class LeadAssignmentRule(models.Model):
    """New leads (prospects created without an owner) go round-robin to a team's active reps.

    Rules are tried in order; a rule with a region (or source) only takes leads of that
    region (or source). The first matching active rule assigns.
    """

    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    region = models.CharField(
        _("region"),
        max_length=50,
        blank=True,
        help_text=_("Only leads of this sales region or province. Empty: any."),
    )
    source = models.CharField(
        _("source"),
        max_length=20,
        choices=Customer.Source.choices,
        blank=True,
        help_text=_("Empty: any source."),
    )
    team = models.ForeignKey(Team, verbose_name=_("team"), related_name="+", on_delete=models.CASCADE)
    # Round-robin position: the rep who got the last lead from this rule.
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("lead assignment rule")
        verbose_name_plural = _("lead assignment rules")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def matches(self, customer: Customer) -> bool:
        if self.region and self.region not in (customer.region, customer.province):
            return False
        return not (self.source and self.source != customer.source)


# --- nightly scoring settings (admin-configurable; one row each) -----------------------------


class SingletonSettings(models.Model):
    """A settings row admins edit in the admin; `current()` creates it with the defaults."""

    class Meta:
        abstract = True

    @classmethod
    def current(cls):
        obj = cls.objects.order_by("pk").first()
        return obj if obj is not None else cls.objects.create()


class ChurnSettings(SingletonSettings):
    """How the churn risk score (0–100) is made: each signal scores 0–1, times its weight;
    the weights are normalised to add up to 100."""

    threshold = models.PositiveSmallIntegerField(
        _("warning threshold"),
        default=60,
        validators=[MaxValueValidator(100)],
        help_text=_("Score from which a customer is flagged."),
    )
    weight_purchase_gap = models.PositiveSmallIntegerField(_("weight: overdue purchase"), default=50)
    weight_interaction_gap = models.PositiveSmallIntegerField(_("weight: no recent interaction"), default=20)
    weight_falling_values = models.PositiveSmallIntegerField(_("weight: falling order values"), default=15)
    weight_open_complaints = models.PositiveSmallIntegerField(_("weight: open complaints"), default=15)
    default_gap_days = models.PositiveSmallIntegerField(
        _("usual gap for customers with one order (days)"), default=90
    )
    interaction_gap_days = models.PositiveSmallIntegerField(
        _("days without interaction that count fully"), default=90
    )
    churned_after_days = models.PositiveSmallIntegerField(
        _("flagged this many days → churned"),
        default=90,
        help_text=_("A flagged customer who has not bought again after this many days moves to churned."),
    )
    win_back_task_due_days = models.PositiveSmallIntegerField(_("win-back task due in (days)"), default=3)

    class Meta:
        verbose_name = _("churn warning settings")
        verbose_name_plural = _("churn warning settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class TierSettings(SingletonSettings):
    """RFM scoring (each of recency, frequency, monetary scored 1–5 by quintiles over the
    window) and the ABC classes by share of revenue."""

    window_days = models.PositiveSmallIntegerField(_("window (days)"), default=365)
    vip_min_rfm_sum = models.PositiveSmallIntegerField(
        _("VIP: R+F+M at least"), default=13, validators=[MaxValueValidator(15)]
    )
    active_min_recency = models.PositiveSmallIntegerField(
        _("active: R at least"), default=3, validators=[MaxValueValidator(5)]
    )
    dormant_max_recency = models.PositiveSmallIntegerField(
        _("dormant: R at most"),
        default=1,
        validators=[MaxValueValidator(5)],
        help_text=_("Customers without a purchase in the window are dormant too."),
    )
    abc_a_percent = models.PositiveSmallIntegerField(
        _("A: top share of revenue %"), default=80, validators=[MaxValueValidator(100)]
    )
    abc_b_percent = models.PositiveSmallIntegerField(
        _("B: next share of revenue %"), default=15, validators=[MaxValueValidator(100)]
    )

    class Meta:
        verbose_name = _("value tier settings")
        verbose_name_plural = _("value tier settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


# --- web forms (线上表单) ----------------------------------------------------------------------


def _new_webform_token() -> str:
    # 32 URL-safe characters (192 bits): the public address cannot be guessed or enumerated.
    return secrets.token_urlsafe(24)


class WebForm(models.Model):
    """An embeddable lead form with a public address (/f/<token>/), configured by admins.

    A visitor's submission creates a prospect (or, when the phone or email is already known,
    lands on that customer's timeline): sales.webforms.webform_submit()."""

    class Field(models.TextChoices):
        # The customer fields a form may ask for (the allow-list). The name is always asked.
        COMPANY = "company", _("Company")
        MOBILE = "mobile", _("Mobile phone")
        EMAIL = "email", _("Email")
        WECHAT = "wechat", _("WeChat ID")
        CITY = "city", _("City")
        MESSAGE = "message", _("Message")

    name = models.CharField(_("name"), max_length=100, help_text=_("For staff only; visitors see the title."))
    token = models.CharField(
        _("public token"), max_length=64, unique=True, default=_new_webform_token, editable=False
    )
    active = models.BooleanField(_("active"), default=True)
    fields = models.JSONField(_("fields"), default=list, blank=True)
    required_fields = models.JSONField(_("required fields"), default=list, blank=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    intro_zh = models.TextField(_("introduction (Chinese)"), blank=True)
    intro_en = models.TextField(_("introduction (English)"), blank=True)
    thanks_zh = models.TextField(_("thank-you text (Chinese)"))
    thanks_en = models.TextField(_("thank-you text (English)"))
    consent_text_zh = models.TextField(
        _("consent text (Chinese)"),
        blank=True,
        help_text=_("Shown next to the marketing-consent checkbox. Empty: no checkbox."),
    )
    consent_text_en = models.TextField(_("consent text (English)"), blank=True)
    consent_required = models.BooleanField(
        _("consent required"), default=False, help_text=_("The form cannot be sent without ticking the box.")
    )
    source = models.CharField(
        _("source of new leads"),
        max_length=20,
        choices=Customer.Source.choices,
        default=Customer.Source.WEB_FORM,
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team for new leads"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        help_text=_(
            "When no lead assignment rule takes a new lead, it waits in this team's pool and the "
            "team's managers are told. Empty: the company-wide pool."
        ),
    )
    allowed_origins = models.TextField(
        _("allowed embedding sites"),
        blank=True,
        help_text=_(
            "One address per line (https://www.example.com) of the sites that may show the form "
            "in an iframe. Empty: the form can only be opened directly."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        allowed = set(self.Field.values)
        fields = list(self.fields or [])
        if set(fields) - allowed:
            raise ValidationError({"fields": _("Only the listed fields can be asked for.")})
        if not {self.Field.MOBILE, self.Field.EMAIL} & set(fields):
            raise ValidationError({"fields": _("Ask for the mobile phone or the email, or both.")})
        if set(self.required_fields or []) - set(fields):
            raise ValidationError({"required_fields": _("A required field must also be asked for.")})
        if self.consent_required and not (self.consent_text_zh and self.consent_text_en):
            raise ValidationError(
                {"consent_text_zh": _("A required consent needs its text in both languages.")}
            )
        for origin in self.origin_list:
            if not _ORIGIN_RE.fullmatch(origin):
                raise ValidationError(
                    {
                        "allowed_origins": _(
                            "“%(origin)s” is not a site address such as https://www.example.com."
                        )
                        % {"origin": origin}
                    }
                )

    @property
    def origin_list(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]

    def in_language(self, field: str, language: str) -> str:
        """title / intro / thanks / consent_text in the visitor's language (zh-hans or en)."""
        return getattr(self, f"{field}_{'zh' if language.startswith('zh') else 'en'}")


# A site address for frame-ancestors: scheme, host and optional port; no path, no wildcard
# in the scheme.
_ORIGIN_RE = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")


class WebFormSubmission(models.Model):
    """The log of every submission a web form received, spam included (not the rate-limited
    ones, which write nothing). Holds no personal data in clear: the visitor's details are on
    the customer, the address only as a keyed hash."""

    class Verdict(models.TextChoices):
        CREATED = "created", _("New prospect")
        MATCHED = "matched", _("Matched an existing customer")
        HONEYPOT = "honeypot", _("Spam: hidden field filled in")
        TOO_FAST = "too_fast", _("Spam: sent too fast")
        TOO_OLD = "too_old", _("Spam: form too old")
        BAD_TOKEN = "bad_token", _("Spam: tampered form")
        REPLAY = "replay", _("Spam: sent again")

    SPAM = (Verdict.HONEYPOT, Verdict.TOO_FAST, Verdict.TOO_OLD, Verdict.BAD_TOKEN, Verdict.REPLAY)

    form = models.ForeignKey(
        WebForm, verbose_name=_("web form"), related_name="submissions", on_delete=models.CASCADE
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    verdict = models.CharField(_("verdict"), max_length=20, choices=Verdict.choices)
    ip_hash = models.CharField(_("address (hashed)"), max_length=64, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("web form submission")
        verbose_name_plural = _("web form submissions")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's submissions list of one form, newest first, and its counts.
            models.Index(fields=["form", "-created_at"], name="webformsub_form_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.form} · {self.get_verdict_display()}"

    @property
    def is_spam(self) -> bool:
        return self.verdict in self.SPAM
