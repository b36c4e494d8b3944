from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.db import PostgresOnlyGinIndex, PostgresOnlyIndex
from core.fields import EncryptedTextField, NameGramsField
from core.models import Team


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(
        _("colour"),
        max_length=20,
        default="secondary",
        choices=[
            ("secondary", _("Grey")),
            ("primary", _("Blue")),
            ("success", _("Green")),
            ("danger", _("Red")),
            ("warning", _("Yellow")),
            ("info", _("Cyan")),
            ("dark", _("Black")),
        ],
    )

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


_NOTHING = Q(pk__in=[])


def customer_visibility_q(user, prefix: str = "") -> Q:
    """The customers `user` may see, as a Q on a model whose customer is at `prefix`
    ("" for Customer itself, "customer__" for interactions, tickets, orders...).

    The one definition of record-level scope; every app filters through it.
    """
    if not user.is_authenticated or not user.is_active:
        return _NOTHING
    if user.is_superuser or user.has_perm("customers.view_all_customers"):
        return Q()
    managed = user.managed_team_ids
    if managed:
        return Q(**{f"{prefix}team_id__in": managed}) | Q(**{f"{prefix}owner": user})
    if user.has_perm("customers.view_customer"):
        return Q(**{f"{prefix}owner": user})
    return _NOTHING


def stale_days_for(tier: str) -> int:
    return settings.CUSTOMER_INFO_STALE_DAYS_BY_TIER.get(tier, settings.CUSTOMER_INFO_STALE_DAYS)


def stale_q(now=None) -> Q:
    """Customers whose details are due for re-verification."""
    now = now or timezone.now()
    q = Q(info_verified_at__isnull=True)
    overrides = settings.CUSTOMER_INFO_STALE_DAYS_BY_TIER
    for tier, days in overrides.items():
        q |= Q(value_tier=tier, info_verified_at__lt=now - timedelta(days=days))
    default_limit = now - timedelta(days=settings.CUSTOMER_INFO_STALE_DAYS)
    q |= Q(info_verified_at__lt=default_limit) & ~Q(value_tier__in=list(overrides))
    return q


def live_customer_q(user, prefix: str = "customer__") -> Q:
    """Records (interactions, tickets, orders...) of live customers the user may see."""
    return customer_visibility_q(user, prefix) & Q(**{f"{prefix}deleted_at__isnull": True})


class CustomerPoolQuerySet(models.QuerySet):
    def for_user(self, user):
        """The pools `user` works with: all for admins and whoever sees all customers; else
        the pools of their own team and the teams they manage, and the company-wide default
        pool for any of those teams (or a user without a team) that has no pool of its own."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.has_perm("customers.view_all_customers"):
            return self.all()
        team_ids = {*user.managed_team_ids, *([user.team_id] if user.team_id else [])}
        pooled = dict(CustomerPoolTeam.objects.filter(team_id__in=team_ids).values_list("team_id", "pool_id"))
        q = Q(pk__in=set(pooled.values()))
        if not team_ids or team_ids - set(pooled):
            q |= Q(is_default=True)
        return self.filter(q)


class CustomerPool(models.Model):
    """A customer pool (公海): where customers without an owner wait to be claimed, with the
    rules for claiming and for returning customers automatically.

    A customer's pool is the pool of its team (CustomerPoolTeam), else the company-wide
    default pool (`is_default`, created by a data migration); see `pool_for_team()`.
    """

    name = models.CharField(_("name"), max_length=100, blank=True)
    is_default = models.BooleanField(
        _("company-wide default pool"),
        default=False,
        editable=False,
        help_text=_("Customers of teams without a pool of their own go here."),
    )
    teams = models.ManyToManyField(
        Team,
        verbose_name=_("teams"),
        through="CustomerPoolTeam",
        related_name="+",
        blank=True,
    )
    max_held = models.PositiveIntegerField(
        _("customers a rep may hold"),
        default=200,
        help_text=_("A rep holding this many customers cannot claim more. 0: no limit."),
    )
    max_claims_per_day = models.PositiveIntegerField(
        _("claims per rep per day"), default=20, help_text=_("0: no limit.")
    )
    reclaim_block_days = models.PositiveIntegerField(
        _("days before a rep may reclaim a customer they released"), default=30
    )
    return_without_interaction_days = models.PositiveIntegerField(
        _("return after days without interaction"),
        default=0,
        help_text=_("Customers nobody contacted for this many days return to the pool. 0: off."),
    )
    return_without_deal_days = models.PositiveIntegerField(
        _("return after days without a purchase"),
        default=0,
        help_text=_("Customers without a purchase for this many days return to the pool. 0: off."),
    )
    warn_days_before = models.PositiveIntegerField(_("warn the owner days before"), default=3)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = CustomerPoolQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer pool")
        verbose_name_plural = _("customer pools")
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="custpool_one_default"
            )
        ]

    def __str__(self) -> str:
        if not self.name and self.is_default:
            return str(_("Company-wide pool"))
        return self.name

    @property
    def has_return_rule(self) -> bool:
        return bool(self.return_without_interaction_days or self.return_without_deal_days)


class CustomerPoolTeam(models.Model):
    """Which pool a team's customers go to; a team belongs to at most one pool."""

    pool = models.ForeignKey(CustomerPool, verbose_name=_("customer pool"), on_delete=models.CASCADE)
    team = models.OneToOneField(Team, verbose_name=_("team"), related_name="+", on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("team of a pool")
        verbose_name_plural = _("teams of a pool")

    def __str__(self) -> str:
        return f"{self.pool} – {self.team}"


def pool_for_team(team_id: int | None) -> CustomerPool:
    """The pool a customer of this team goes to: its team's pool, else the default pool."""
    if team_id is not None:
        link = CustomerPoolTeam.objects.filter(team_id=team_id).select_related("pool").first()
        if link is not None:
            return link.pool
    # Made by the data migration; made again should the table have been emptied (tests with
    # transaction=True, a hand-cleaned database): there is always a pool to go to.
    return CustomerPool.objects.get_or_create(is_default=True, defaults={"name": ""})[0]


class CustomerQuerySet(models.QuerySet):
    def active(self):
        """Not in the recycle bin (and not merged into another customer)."""
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False, merged_into__isnull=True)

    def visible_to(self, user, *, include_deleted: bool = False):
        """Every customer lookup of every page starts here: record-level permission.

        Sales rep: customers they own. Sales manager: customers of the teams they manage
        (and their own). Customer service and admins: everyone (service read-only, enforced
        by permissions). Anyone else: nothing.
        """
        qs = self if include_deleted else self.active()
        return qs.filter(customer_visibility_q(user))

    def in_pool(self):
        """Live customers without an owner (in the pool, 公海)."""
        return self.active().filter(owner__isnull=True)

    def tier_moves(self, start, end):
        """Customers whose tier changed between the dates `start` and `end` (both included),
        annotated with `tier_before` (before their first change in the range; "" when it was
        their first classification) and `tier_after` (after the last). The maintenance
        diagram's transitions and the list filter behind each of its numbers."""
        changes = TierChange.objects.filter(
            customer=OuterRef("pk"), changed_on__gte=start, changed_on__lte=end
        )
        return self.filter(Exists(changes)).annotate(
            tier_before=Subquery(changes.order_by("changed_on", "id").values("from_tier")[:1]),
            tier_after=Subquery(changes.order_by("-changed_on", "-id").values("to_tier")[:1]),
        )

    def stale(self, now=None):
        """Details not confirmed within CUSTOMER_INFO_STALE_DAYS (quarterly by default), or the
        tier's own period from CUSTOMER_INFO_STALE_DAYS_BY_TIER (e.g. VIP every 30 days)."""
        return self.filter(stale_q(now))


class Customer(models.Model):
    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("Individual")
        COMPANY = "company", _("Company")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not given")
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")

    class Source(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        WEB_FORM = "web_form", _("Web form")
        SOCIAL_MEDIA = "social_media", _("Social media")
        REFERRAL = "referral", _("Referral")
        EXHIBITION = "exhibition", _("Exhibition")
        WALK_IN = "walk_in", _("Walk-in")
        OTHER = "other", _("Other")

    class LifecycleStage(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        NEW = "new", _("New customer")
        EXISTING = "existing", _("Existing customer")
        CHURNED = "churned", _("Churned customer")

    class ValueTier(models.TextChoices):
        VIP = "vip", _("VIP")
        ACTIVE = "active", _("Active")
        POTENTIAL = "potential", _("Potential")
        DORMANT = "dormant", _("Dormant")

    class AbcClass(models.TextChoices):
        NONE = "", _("Not classified")
        A = "A", "A"
        B = "B", "B"
        C = "C", "C"

    class ConsentChannel(models.TextChoices):
        NONE = "", _("Not given")
        WEB_FORM = "web_form", _("Web form")
        PAPER = "paper", _("Signed on paper")
        VERBAL = "verbal", _("Verbally (recorded)")
        EMAIL = "email", _("By email")
        IMPORT = "import", _("Imported with the record")

    # Basic information
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.INDIVIDUAL)
    name = models.CharField(_("name"), max_length=200)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)

    # Personal data: encrypted at rest, searchable only through the blind-index columns.
    mobile = EncryptedTextField(_("mobile phone"), blank=True)
    other_phone = EncryptedTextField(_("other phone"), blank=True)
    email = EncryptedTextField(_("email"), blank=True)
    wechat = EncryptedTextField(_("WeChat ID"), blank=True)
    street = EncryptedTextField(_("street address"), blank=True)
    mobile_bidx = models.CharField(max_length=64, blank=True, editable=False)
    other_phone_bidx = models.CharField(max_length=64, blank=True, editable=False)
    email_bidx = models.CharField(max_length=64, blank=True, editable=False)

    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    region = models.CharField(
        _("sales region"), max_length=50, blank=True, help_text=_("e.g. East China, North China")
    )

    # Classification
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=20,
        choices=LifecycleStage.choices,
        default=LifecycleStage.PROSPECT,
    )
    lifecycle_stage_manual = models.BooleanField(
        _("lifecycle stage set by hand"),
        default=False,
        help_text=_("When set, purchases and the churn job leave the lifecycle stage alone."),
    )
    value_tier = models.CharField(
        _("tier"), max_length=20, choices=ValueTier.choices, default=ValueTier.POTENTIAL
    )
    abc_class = models.CharField(_("ABC class"), max_length=1, choices=AbcClass.choices, blank=True)
    abc_class_manual = models.BooleanField(
        _("ABC class set by hand"),
        default=False,
        help_text=_("When set, the nightly classification leaves the ABC class alone."),
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="customers", blank=True)
    # The tag names as text, kept by the services, so the change history records tag edits
    # like any other field (old → new).
    tag_names = models.CharField(_("tags"), max_length=1000, blank=True, editable=False)
    value_tier_manual = models.BooleanField(
        _("tier set by hand"),
        default=False,
        help_text=_("When set, the nightly RFM scoring leaves the tier alone."),
    )
    rfm_score = models.CharField(
        _("RFM score"),
        max_length=3,
        blank=True,
        editable=False,
        help_text=_("Recency, frequency, monetary, 1–5 each."),
    )
    # Churn warning (流失预警), kept by the nightly churn job.
    churn_risk_score = models.PositiveSmallIntegerField(_("churn risk"), default=0, editable=False)
    churn_risk_reason = models.CharField(_("churn risk reason"), max_length=500, blank=True, editable=False)
    churn_flagged_at = models.DateTimeField(_("churn warning since"), null=True, blank=True, editable=False)
    # Follow-up escalation (跟进超时), kept by the interactions app's nightly job
    # (interactions.escalation) and cleared by the next interaction: when the owner was
    # reminded, and when the team's managers were told and the customer marked high-risk.
    followup_reminded_at = models.DateTimeField(
        _("follow-up reminder sent"), null=True, blank=True, editable=False
    )
    followup_escalated_at = models.DateTimeField(
        _("follow-up escalated (high risk)"), null=True, blank=True, editable=False
    )
    care_opt_out = models.BooleanField(
        _("no care messages"),
        default=False,
        help_text=_("The customer asked not to receive birthday or anniversary greetings."),
    )
    preferences = models.TextField(
        _("service preferences"),
        blank=True,
        help_text=_("How and when the customer likes to be served, e.g. call after 6 pm."),
    )
    notes = models.TextField(_("notes"), blank=True)
    # Values of the custom fields admins defined (core.custom_fields): typed JSON by key,
    # sensitive ones encrypted. Kept in the change history like any other field.
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)

    # Ownership
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        related_name="owned_customers",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        related_name="customers",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    # The pool the customer waits in while it has no owner; set (from its team) whenever it
    # loses its owner or is created without one (customers.pool.pool_for_team).
    pool = models.ForeignKey(
        CustomerPool,
        verbose_name=_("customer pool"),
        related_name="customers",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
    )

    # Marketing consent (PIPL / GDPR)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    marketing_consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    marketing_consent_channel = models.CharField(
        _("consent given how"), max_length=20, choices=ConsentChannel.choices, blank=True
    )

    # Keeping the record current
    info_verified_at = models.DateTimeField(_("information verified at"), null=True, blank=True)
    last_contacted_at = models.DateTimeField(_("last contacted at"), null=True, blank=True)

    # Purchase statistics, maintained by the sales app's order service.
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True, editable=False)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True, editable=False)
    order_count = models.PositiveIntegerField(_("orders"), default=0, editable=False)
    total_spend = models.DecimalField(
        _("total spend"), max_digits=14, decimal_places=2, default=0, editable=False
    )

    # Search support, kept by customers.search.refresh_search_fields().
    search_text = models.TextField(blank=True, editable=False)
    search_grams = NameGramsField(blank=True, default=list, editable=False)

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)
    # Set when the personal data was erased (PIPL / GDPR; customers.privacy): the row stays as a
    # placeholder that keeps orders and reports right. The name is then empty and the
    # placeholder is rendered translated by __str__.
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("deleted by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        related_name="merged_customers",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )

    # Change history; encrypted fields stay ciphertext there too. The search columns are
    # derived, so they are left out.
    history = HistoricalRecords(
        # The follow-up marks are job state, changed by UPDATEs that bypass the history anyway.
        excluded_fields=[
            "search_text",
            "search_grams",
            "updated_at",
            "followup_reminded_at",
            "followup_escalated_at",
        ],
        cascade_delete_history=True,
    )

    objects = CustomerQuerySet.as_manager()

    # Fields that count towards the data-completeness score, by kind.
    COMPLETENESS_FIELDS = {
        Kind.INDIVIDUAL: ["mobile", "email", "gender", "birthday", "province", "city", "street", "source"],
        Kind.COMPANY: ["mobile", "email", "company", "industry", "province", "city", "street", "source"],
    }
    SENSITIVE_FIELDS = ("mobile", "other_phone", "email", "wechat", "street")

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("view_sensitive", _("Can reveal customers' personal data")),
            ("change_customer_owner", _("Can change customers' owner and team")),
            ("view_all_customers", _("Can see all customers")),
            ("merge_customer", _("Can merge customers")),
            ("purge_customer", _("Can purge customers from the recycle bin")),
            ("export_customer", _("Can export customers")),
            ("import_customer", _("Can import customers")),
            ("override_duplicate", _("Can create a customer whose phone or email is already on record")),
            ("handle_privacy_requests", _("Can export and erase a customer's personal data")),
            ("claim_customer", _("Can claim customers from the pool and release their own")),
        ]
        # Lists show live customers only, so most indexes are partial (WHERE deleted_at IS
        # NULL) and lead with the visibility column (owner or team) of the user's scope.
        indexes = [
            # Default list order for each scope: newest first.
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="cust_owner_created_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["team", "-created_at", "-id"],
                name="cust_team_created_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["-created_at", "-id"], name="cust_created_idx", condition=Q(deleted_at__isnull=True)
            ),
            # The pool list (公海): customers without owner of a pool, newest first.
            models.Index(
                fields=["pool", "-created_at", "-id"],
                name="cust_pool_created_idx",
                condition=Q(owner__isnull=True, deleted_at__isnull=True),
            ),
            # ... and by last contact (nulls last), "longest without contact" first or last.
            PostgresOnlyIndex(
                F("pool"),
                F("last_contacted_at").desc(nulls_last=True),
                F("id").desc(),
                name="cust_pool_contact_idx",
                condition=Q(owner__isnull=True, deleted_at__isnull=True),
            ),
            # Sort by last contact (nulls last) and the last-contacted range filter.
            PostgresOnlyIndex(
                F("last_contacted_at").desc(nulls_last=True),
                F("id").desc(),
                name="cust_last_contact_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            PostgresOnlyIndex(
                F("owner"),
                F("last_contacted_at").desc(nulls_last=True),
                F("id").desc(),
                name="cust_owner_contact_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            # Sort by name; Upper() keeps the order case-insensitive for Latin names.
            models.Index(Upper("name"), "id", name="cust_name_idx", condition=Q(deleted_at__isnull=True)),
            # Filters: stage + tier (+ owner) is the commonest combination on the ledger.
            models.Index(
                fields=["lifecycle_stage", "value_tier", "owner"],
                name="cust_stage_tier_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(fields=["value_tier"], name="cust_tier_idx", condition=Q(deleted_at__isnull=True)),
            models.Index(fields=["abc_class"], name="cust_abc_idx", condition=Q(deleted_at__isnull=True)),
            # The duplicate check by company name (exact, case-insensitive).
            models.Index(
                Upper("company"),
                name="cust_company_idx",
                condition=Q(deleted_at__isnull=True) & ~Q(company=""),
            ),
            # The RFM filter (score prefix, LIKE 'rf%') behind the behaviour analysis' matrix.
            PostgresOnlyIndex(
                OpClass("rfm_score", name="varchar_pattern_ops"),
                name="cust_rfm_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["province", "city"], name="cust_place_idx", condition=Q(deleted_at__isnull=True)
            ),
            models.Index(fields=["source"], name="cust_source_idx", condition=Q(deleted_at__isnull=True)),
            # Sort and filter by churn risk; the churn job's flagged customers.
            models.Index(
                fields=["-churn_risk_score", "-id"],
                name="cust_churn_risk_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            # The "churn warning" filter: flagged live customers, newest warning first.
            models.Index(
                fields=["-churn_flagged_at", "-id"],
                name="cust_churn_flagged_idx",
                condition=Q(churn_flagged_at__isnull=False, deleted_at__isnull=True),
            ),
            # Follow-up escalation job (interactions.escalation), stage 1: owned live customers
            # not yet reminded, by the start of their follow-up clock (last contact, else
            # creation); the job filters on exactly this expression.
            models.Index(
                Coalesce("last_contacted_at", "created_at"),
                "id",
                name="cust_followup_due_idx",
                condition=Q(deleted_at__isnull=True, owner__isnull=False, followup_reminded_at__isnull=True),
            ),
            # Stage 2 (reminded, not yet escalated, reminded before a date) and the list
            # filter "follow-up overdue (owner reminded)".
            models.Index(
                fields=["followup_reminded_at", "id"],
                name="cust_followup_reminded_idx",
                condition=Q(
                    deleted_at__isnull=True,
                    followup_reminded_at__isnull=False,
                    followup_escalated_at__isnull=True,
                ),
            ),
            # The list filter "follow-up escalated (high risk)", newest first.
            models.Index(
                fields=["-followup_escalated_at", "-id"],
                name="cust_followup_escalated_idx",
                condition=Q(followup_escalated_at__isnull=False, deleted_at__isnull=True),
            ),
            # Care reminders: birthdays by month and day.
            models.Index(fields=["birthday"], name="cust_birthday_idx", condition=Q(deleted_at__isnull=True)),
            # "Information stale" filter and the update-reminder job.
            models.Index(
                fields=["info_verified_at"], name="cust_verified_idx", condition=Q(deleted_at__isnull=True)
            ),
            # Exact phone / email search and duplicate checks (blind index).
            models.Index(fields=["mobile_bidx"], name="cust_mobile_bidx_idx", condition=~Q(mobile_bidx="")),
            models.Index(
                fields=["other_phone_bidx"], name="cust_phone2_bidx_idx", condition=~Q(other_phone_bidx="")
            ),
            models.Index(fields=["email_bidx"], name="cust_email_bidx_idx", condition=~Q(email_bidx="")),
            # Duplicate check on name + company.
            models.Index(fields=["name", "company"], name="cust_name_company_idx"),
            # Recycle bin, newest deletion first, and the purge job.
            models.Index(
                fields=["-deleted_at"], name="cust_deleted_idx", condition=Q(deleted_at__isnull=False)
            ),
            # Search: substrings of 3+ characters (pg_trgm), 1–2 character terms (grams).
            PostgresOnlyGinIndex(
                OpClass("search_text", name="gin_trgm_ops"),
                name="cust_search_trgm_idx",
            ),
            PostgresOnlyGinIndex(fields=["search_grams"], name="cust_search_grams_idx"),
            # Custom-field filters: equality and containment (`custom @> '{"key": value}'`,
            # also the blind index of sensitive ones). Ranges on numbers and dates are not
            # indexed; they filter the rows the scope and the other filters have narrowed.
            PostgresOnlyGinIndex(OpClass("custom", name="jsonb_path_ops"), name="cust_custom_gin_idx"),
        ]

    def __str__(self) -> str:
        # An anonymised customer has no name; only the number is left. The marker is language
        # neutral in the database (an empty name) and translated here.
        if not self.name and self.pk:
            return _("Anonymised customer #%(id)d") % {"id": self.pk}
        return self.name

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def purge_after(self):
        if self.deleted_at is None:
            return None
        return self.deleted_at + timedelta(days=settings.CUSTOMER_RECYCLE_BIN_DAYS)

    def completeness(self) -> tuple[int, list[str]]:
        """(percentage of key fields filled, labels of the missing ones)."""
        fields = self.COMPLETENESS_FIELDS[self.kind]
        missing = [str(self._meta.get_field(f).verbose_name) for f in fields if not getattr(self, f)]
        return round(100 * (len(fields) - len(missing)) / len(fields)), missing

    @property
    def average_order_value(self):
        if not self.order_count:
            return None
        return (self.total_spend / self.order_count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def is_stale(self) -> bool:
        limit = timezone.now() - timedelta(days=stale_days_for(self.value_tier))
        return self.info_verified_at is None or self.info_verified_at < limit


class Contact(models.Model):
    """A person at a company customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="contacts", on_delete=models.CASCADE
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = EncryptedTextField(_("phone"), blank=True)
    email = EncryptedTextField(_("email"), blank=True)
    wechat = EncryptedTextField(_("WeChat ID"), blank=True)
    phone_bidx = models.CharField(max_length=64, blank=True, editable=False)
    email_bidx = models.CharField(max_length=64, blank=True, editable=False)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    # Values of the custom fields defined for contacts (core.custom_fields).
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    SENSITIVE_FIELDS = ("phone", "email", "wechat")

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="contact_one_primary_per_customer"
            )
        ]
        indexes = [
            # Exact phone / email search also finds a company by its contacts.
            models.Index(fields=["phone_bidx"], name="contact_phone_bidx_idx", condition=~Q(phone_bidx="")),
            models.Index(fields=["email_bidx"], name="contact_email_bidx_idx", condition=~Q(email_bidx="")),
            # Equality lookups on custom-field values (`custom @> …`), e.g. the API's filters.
            PostgresOnlyGinIndex(OpClass("custom", name="jsonb_path_ops"), name="contact_custom_gin_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A named set of list filters a user returns to (e.g. "my VIPs in Shanghai")."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        related_name="saved_customer_views",
        on_delete=models.CASCADE,
    )
    name = models.CharField(_("name"), max_length=100)
    query = models.TextField(_("filters"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="savedview_unique_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name


class CustomerMerge(models.Model):
    """Record of a merge: which customer survived, which was folded into it, and how."""

    survivor = models.ForeignKey(Customer, related_name="merges_received", on_delete=models.CASCADE)
    merged = models.ForeignKey(Customer, related_name="merges_given", on_delete=models.CASCADE)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True
    )
    merged_at = models.DateTimeField(auto_now_add=True)
    # Which side each field's value came from ("survivor" / "merged"), and how many related
    # records of each kind were moved. No personal data.
    field_choices = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"#{self.merged_id} → #{self.survivor_id}"


class TierChange(models.Model):
    """A change of a customer's value tier (by the nightly job or by hand): the reports'
    maintenance diagram shows how customers move between tiers from these."""

    class Source(models.TextChoices):
        JOB = "job", _("Nightly scoring")
        MANUAL = "manual", _("By hand")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="tier_changes", on_delete=models.CASCADE
    )
    changed_on = models.DateField(_("date"), default=timezone.localdate)
    from_tier = models.CharField(_("from"), max_length=20, choices=Customer.ValueTier.choices, blank=True)
    to_tier = models.CharField(_("to"), max_length=20, choices=Customer.ValueTier.choices)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.JOB)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_on", "-id"]
        indexes = [
            # Transitions between two dates (maintenance diagram).
            models.Index(fields=["changed_on", "from_tier", "to_tier"], name="tierchange_date_idx"),
            models.Index(fields=["customer", "-changed_on"], name="tierchange_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_tier} → {self.to_tier}"


class ConsentRecord(models.Model):
    """One change of a customer's marketing consent: given or withdrawn, when, how, by whom.

    Written only by customers.services.consent_record_change() (and the import, in bulk), which
    keeps Customer.marketing_consent* in step with the latest record for all channels. The
    history is the proof a PIPL / GDPR inquiry asks for, so rows are never edited.
    """

    class Channel(models.TextChoices):
        ALL = "all", _("All marketing")
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone calls")

    class Source(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        PAPER = "paper", _("Signed on paper")
        VERBAL = "verbal", _("Verbally (recorded)")
        EMAIL = "email", _("By email")
        PHONE = "phone", _("By phone")
        IMPORT = "import", _("Imported with the record")
        IMPORT_UNDONE = "import_undone", _("Import undone")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
        STAFF = "staff", _("Changed on the customer record")
        MERGE = "merge", _("Customers merged")
        ERASURE = "erasure", _("Personal data erased")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="consent_records", on_delete=models.CASCADE
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.ALL)
    granted = models.BooleanField(_("consent given"))
    at = models.DateTimeField(_("when"), default=timezone.now)
    source = models.CharField(_("how"), max_length=20, choices=Source.choices, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-at", "-id"]
        # The customer page's consent history, newest first.
        indexes = [models.Index(fields=["customer", "-at", "-id"], name="consent_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.channel} {'+' if self.granted else '-'}"


class PrivacyRequest(models.Model):
    """A personal-information request carried out (PIPL arts. 45 and 47, GDPR arts. 15 and 17):
    an access export or an erasure, by a person or by the retention job (requested_by empty).

    The customer link survives the erasure (the row stays as an anonymised placeholder);
    `customer_number` keeps the number should the row be purged later. `summary` holds counts
    only, never personal data.
    """

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (export)")
        ERASURE = "erasure", _("Erasure")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        related_name="privacy_requests",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    customer_number = models.PositiveBigIntegerField(_("customer number"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    reference = models.CharField(
        _("reference"), max_length=100, blank=True, help_text=_("e.g. the ticket or letter number.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    executed_at = models.DateTimeField(_("carried out at"), null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    class Meta:
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The customer page's list of requests.
            models.Index(fields=["customer", "-created_at"], name="privacyreq_customer_idx"),
            # The admin list, newest first.
            models.Index(fields=["-created_at", "-id"], name="privacyreq_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.customer_number}"


class PoolEvent(models.Model):
    """One claim, release, automatic return (or its warning) or assignment of a customer
    (customers.pool).

    Rows are written only by the pool services and never edited; the customer timeline, the
    per-day claim limit and the no-reclaim period read them.
    """

    class Kind(models.TextChoices):
        CLAIM = "claim", _("Claimed from the pool")
        RELEASE = "release", _("Released to the pool")
        AUTO_RETURN = "auto_return", _("Returned to the pool automatically")
        ASSIGN = "assign", _("Assigned from the pool")
        # The owner told that the automatic return is near (no owner change).
        RETURN_WARNING = "return_warning", _("Owner warned of the automatic return")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="pool_events", on_delete=models.CASCADE
    )
    pool = models.ForeignKey(
        CustomerPool, verbose_name=_("customer pool"), related_name="events", on_delete=models.PROTECT
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The rep concerned: who claimed, whose customer left, who was assigned the customer.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
    )
    # Who did it; empty for the automatic return.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("pool event")
        verbose_name_plural = _("pool events")
        ordering = ["-at", "-id"]
        indexes = [
            # The customer timeline, and the latest claim/assignment per customer (return rule).
            models.Index(fields=["customer", "-at"], name="poolevent_customer_idx"),
            # Claims per rep per day, and the no-reclaim period (owner + kind + time).
            models.Index(fields=["owner", "kind", "-at"], name="poolevent_owner_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.kind}"
