from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.indexes import OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import PostgresOnlyGinIndex
from customers.models import Contact, Customer, customer_visibility_q, live_customer_q


class Priority(models.IntegerChoices):
    """Shared by tasks and tickets; a number so lists sort by urgency."""

    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


# --- interactions ------------------------------------------------------------------------


class InteractionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Interactions of the customers the user may see (live customers only)."""
        return self.filter(live_customer_q(user))


class Interaction(models.Model):
    """One contact with a customer (跟进记录): a call, an email, a visit, a chat..."""

    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone call")
        EMAIL = "email", _("Email")
        MEETING = "meeting", _("Meeting")
        VISIT = "visit", _("Visit")
        WECHAT = "wechat", _("WeChat / online chat")
        SMS = "sms", _("SMS")
        SOCIAL = "social_media", _("Social media")
        OTHER = "other", _("Other")

    class Direction(models.TextChoices):
        OUTBOUND = "out", _("Outbound")
        INBOUND = "in", _("Inbound")

    class Kind(models.TextChoices):
        CONTACT = "contact", _("Follow-up")
        FEEDBACK = "feedback", _("Feedback")
        COMPLAINT = "complaint", _("Complaint")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="interactions", on_delete=models.CASCADE
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        related_name="interactions",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.CONTACT)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, default=Channel.PHONE)
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, default=Direction.OUTBOUND
    )
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    summary = models.CharField(_("summary"), max_length=200)
    details = models.TextField(_("details"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=500, blank=True)
    satisfaction = models.PositiveSmallIntegerField(
        _("customer satisfaction"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (very unhappy) to 5 (very happy), if the customer said."),
    )
    next_step = models.CharField(_("next step"), max_length=500, blank=True)
    ticket = models.ForeignKey(
        "Ticket",
        verbose_name=_("ticket"),
        related_name="source_interactions",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("logged by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("logged at"), auto_now_add=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        permissions = [("export_interaction", _("Can export interactions"))]
        indexes = [
            # Customer timeline, newest first.
            models.Index(fields=["customer", "-occurred_at", "-id"], name="inter_customer_idx"),
            # Interactions list (default order) and its date-range filter.
            models.Index(fields=["-occurred_at", "-id"], name="inter_occurred_idx"),
            # Filter by staff member; team activity reports.
            models.Index(fields=["created_by", "-occurred_at"], name="inter_staff_idx"),
            models.Index(fields=["channel", "-occurred_at"], name="inter_channel_idx"),
            # Open complaints (churn risk, reports).
            models.Index(
                fields=["kind", "-occurred_at"], name="inter_kind_idx", condition=~Q(kind="contact")
            ),
            # Search in summaries (3+ characters; shorter terms search customer names).
            PostgresOnlyGinIndex(OpClass("summary", name="gin_trgm_ops"), name="inter_summary_trgm_idx"),
        ]

    def __str__(self) -> str:
        return self.summary


# --- tasks ------------------------------------------------------------------------------


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Tasks a user may see: their own (assigned or created), those of customers they
        may see, and, for managers, those assigned to their teams' members."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        q = (
            Q(assignee=user)
            | Q(created_by=user)
            | (Q(customer__isnull=False) & customer_visibility_q(user, "customer__"))
        )
        if user.managed_team_ids:
            q |= Q(assignee__team_id__in=user.managed_team_ids)
        return self.filter(q)

    def open(self):
        return self.filter(status=Task.Status.OPEN)


class Task(models.Model):
    """A follow-up task (跟进任务), made by hand or by an automation rule."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Origin(models.TextChoices):
        MANUAL = "manual", _("Manual")
        AUTOMATIC = "automatic", _("Automatic")

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        related_name="tasks",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
    )
    # What else the task is about (e.g. an opportunity of the sales app, which plugs in
    # from above: interactions does not import sales).
    subject_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+", editable=False
    )
    subject_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    subject = GenericForeignKey("subject_type", "subject_id")

    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due"))
    remind_at = models.DateTimeField(
        _("remind at"), null=True, blank=True, help_text=_("Empty: no reminder besides the due time.")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), related_name="tasks", on_delete=models.PROTECT
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.OPEN)
    origin = models.CharField(
        _("origin"), max_length=20, choices=Origin.choices, default=Origin.MANUAL, editable=False
    )
    # The automation rule that made the task, and a key that makes the rule idempotent:
    # a rule never creates the same task twice.
    rule = models.CharField(_("rule"), max_length=100, blank=True, editable=False)
    rule_key = models.CharField(max_length=200, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True, editable=False)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("completed by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due_at", "-priority", "id"]
        permissions = [("reassign_task", _("Can reassign tasks of the team"))]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_key"], condition=~Q(rule_key=""), name="task_rule_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(origin="manual") | ~Q(rule=""), name="task_automatic_names_its_rule"
            ),
        ]
        indexes = [
            # My tasks / team tasks: open tasks of an assignee by due time; nav badge counts.
            models.Index(
                fields=["assignee", "due_at"], name="task_assignee_open_idx", condition=Q(status="open")
            ),
            # The notification job: open tasks by due time and by reminder time.
            models.Index(fields=["due_at"], name="task_open_due_idx", condition=Q(status="open")),
            models.Index(
                fields=["remind_at"],
                name="task_open_remind_idx",
                condition=Q(status="open", remind_at__isnull=False),
            ),
            # Customer timeline.
            models.Index(fields=["customer", "-due_at"], name="task_customer_idx"),
            # Tasks about another record (an opportunity).
            models.Index(fields=["subject_type", "subject_id"], name="task_subject_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()


# --- tickets ------------------------------------------------------------------------------


class TicketQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Tickets of the customers the user may see, and tickets assigned to them."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(live_customer_q(user) | Q(assignee=user))

    def unresolved(self):
        return self.exclude(status__in=Ticket.CLOSED_STATES)

    def sla_breached(self, now=None):
        now = now or timezone.now()
        return self.unresolved().filter(sla_due_at__lt=now)


class Ticket(models.Model):
    """A customer issue or service request (工单)."""

    class Category(models.TextChoices):
        INQUIRY = "inquiry", _("Inquiry")
        COMPLAINT = "complaint", _("Complaint")
        AFTER_SALES = "after_sales", _("After-sales")
        FAULT = "fault", _("Fault")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        ASSIGNED = "assigned", _("Assigned")
        IN_PROGRESS = "in_progress", _("In progress")
        WAITING = "waiting", _("Waiting on customer")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    # The workflow: which status may follow which. Reopening goes back to in progress.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.NEW: (Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED),
        Status.ASSIGNED: (Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED),
        Status.IN_PROGRESS: (Status.WAITING, Status.RESOLVED),
        Status.WAITING: (Status.IN_PROGRESS, Status.RESOLVED),
        Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
        Status.CLOSED: (Status.IN_PROGRESS,),
    }
    CLOSED_STATES = (Status.RESOLVED, Status.CLOSED)

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="tickets", on_delete=models.CASCADE
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        related_name="tickets",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(
        _("category"), max_length=20, choices=Category.choices, default=Category.INQUIRY
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW, editable=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        related_name="assigned_tickets",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    sla_due_at = models.DateTimeField(_("SLA due"), editable=False)
    resolution = models.TextField(_("resolution"), blank=True)
    satisfaction = models.PositiveSmallIntegerField(
        _("customer satisfaction"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("opened by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("opened at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)

    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-id"]
        permissions = [("assign_ticket", _("Can assign tickets")), ("export_ticket", _("Can export tickets"))]
        indexes = [
            # Ticket list default order and its filters.
            models.Index(fields=["-created_at", "-id"], name="ticket_created_idx"),
            models.Index(fields=["status", "-created_at"], name="ticket_status_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["category", "-created_at"], name="ticket_category_idx"),
            # SLA job and "breached" filter: unresolved tickets by SLA due time.
            models.Index(
                fields=["sla_due_at"],
                name="ticket_open_sla_idx",
                condition=~Q(status__in=["resolved", "closed"]),
            ),
            # Customer timeline.
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
            # "Resolved between" filter and the behaviour analysis' resolution times.
            models.Index(
                fields=["resolved_at"], name="ticket_resolved_idx", condition=Q(resolved_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def allowed_transitions(self) -> tuple[str, ...]:
        return self.TRANSITIONS.get(self.status, ())

    @property
    def is_open(self) -> bool:
        return self.status not in self.CLOSED_STATES

    @property
    def sla_breached(self) -> bool:
        """Breached: still open past its SLA, or resolved after it."""
        if self.is_open:
            return self.sla_due_at < timezone.now()
        return self.resolved_at is not None and self.resolved_at > self.sla_due_at

    @property
    def sla_at_risk(self) -> bool:
        warning = timedelta(minutes=settings.TICKET_SLA_WARNING_MINUTES)
        return self.is_open and not self.sla_breached and self.sla_due_at - warning < timezone.now()


class TicketComment(models.Model):
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), related_name="comments", on_delete=models.CASCADE
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
    )
    body = models.TextField(_("comment"))
    internal = models.BooleanField(
        _("internal note"),
        default=False,
        help_text=_("Internal notes are for staff only, never sent to the customer."),
    )
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ticket comment")
        verbose_name_plural = _("ticket comments")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticket_comment_idx")]

    def __str__(self) -> str:
        return self.body[:50]


class TicketStatusChange(models.Model):
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), related_name="status_changes", on_delete=models.CASCADE
    )
    from_status = models.CharField(_("from"), max_length=20, choices=Ticket.Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=Ticket.Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("ticket status change")
        verbose_name_plural = _("ticket status changes")
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["ticket", "changed_at"], name="ticket_status_change_idx")]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


# --- knowledge base -------------------------------------------------------------------------


class Article(models.Model):
    """A knowledge-base article (知识库): how a past problem was solved."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"))
    category = models.CharField(
        _("category"), max_length=20, choices=Ticket.Category.choices, default=Ticket.Category.INQUIRY
    )
    source_ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("from ticket"),
        related_name="articles",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("knowledge base")
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["category", "-updated_at"], name="article_category_idx"),
            # Search and "matching articles" on ticket pages.
            PostgresOnlyGinIndex(OpClass("title", name="gin_trgm_ops"), name="article_title_trgm_idx"),
            PostgresOnlyGinIndex(OpClass("body", name="gin_trgm_ops"), name="article_body_trgm_idx"),
        ]

    def __str__(self) -> str:
        return self.title


# --- follow-up escalation (跟进超时) ------------------------------------------------------


class FollowUpRuleQuerySet(models.QuerySet):
    def in_precedence(self) -> list["FollowUpRule"]:
        """Active rules, the one that wins first (see FollowUpRule)."""
        return sorted(self.filter(active=True).select_related("team"), key=FollowUpRule.precedence_key)


class FollowUpRule(models.Model):
    """ "No follow-up in N days" (跟进超时), configured by admins in the Django admin.

    A customer with an owner and no interaction for `remind_after_days` days (counted from the
    last interaction, else from its creation) gets a follow-up task for the owner; if still
    nothing is logged `escalate_after_days` days after that reminder, the managers of the
    customer's team are told, the customer is marked high-risk and, when `return_to_pool`
    is set, it goes back to the customer pool (interactions.escalation).

    A rule applies to the customers matching all of its criteria (tier, lifecycle stage,
    team; blank = any). When several active rules match a customer, the most specific one
    applies: the one with the most criteria set; among equally specific ones, the shortest
    `remind_after_days`, then the oldest rule. Two active rules with the same criteria are
    refused.
    """

    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    value_tier = models.CharField(
        _("tier"),
        max_length=20,
        choices=Customer.ValueTier.choices,
        blank=True,
        help_text=_("Only customers of this tier. Empty: any tier."),
    )
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=20,
        choices=Customer.LifecycleStage.choices,
        blank=True,
        help_text=_("Only customers in this lifecycle stage. Empty: any stage."),
    )
    team = models.ForeignKey(
        "core.Team",
        verbose_name=_("team"),
        related_name="+",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text=_("Only customers of this team. Empty: every team (and customers without a team)."),
    )
    remind_after_days = models.PositiveSmallIntegerField(
        _("remind the owner after (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("Days without an interaction before the owner gets a follow-up task."),
    )
    escalate_after_days = models.PositiveSmallIntegerField(
        _("then escalate after (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Days after the reminder, still without an interaction, before the team's managers "
            "are told and the customer is marked high-risk."
        ),
    )
    return_to_pool = models.BooleanField(
        _("return to the pool on escalation"),
        default=False,
        help_text=_("On escalation the customer also loses its owner and goes back to its team's pool."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = FollowUpRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up escalation rule")
        verbose_name_plural = _("follow-up escalation rules")
        ordering = ["-active", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remind_after_days__gte=1), name="followuprule_remind_positive"
            ),
            models.CheckConstraint(
                condition=Q(escalate_after_days__gte=1), name="followuprule_escalate_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def specificity(self) -> int:
        return bool(self.value_tier) + bool(self.lifecycle_stage) + (self.team_id is not None)

    def precedence_key(self) -> tuple[int, int, int]:
        return (-self.specificity, self.remind_after_days, self.pk or 0)

    def scope_q(self) -> Q:
        """The customers this rule's criteria match (Q() when it has none: everyone)."""
        q = Q()
        if self.value_tier:
            q &= Q(value_tier=self.value_tier)
        if self.lifecycle_stage:
            q &= Q(lifecycle_stage=self.lifecycle_stage)
        if self.team_id is not None:
            q &= Q(team_id=self.team_id)
        return q

    def matches(self, customer: Customer) -> bool:
        return (
            (not self.value_tier or customer.value_tier == self.value_tier)
            and (not self.lifecycle_stage or customer.lifecycle_stage == self.lifecycle_stage)
            and (self.team_id is None or customer.team_id == self.team_id)
        )

    def clean(self) -> None:
        super().clean()
        if not self.active:
            return
        same = FollowUpRule.objects.filter(
            active=True, value_tier=self.value_tier, lifecycle_stage=self.lifecycle_stage, team=self.team_id
        ).exclude(pk=self.pk)
        other = same.first()
        if other is not None:
            raise ValidationError(
                _(
                    "The active rule “%(name)s” already applies to the same customers (same tier, "
                    "stage and team). Change its days, or deactivate one of the two."
                )
                % {"name": other.name}
            )


class FollowUpEvent(models.Model):
    """One stage of the follow-up escalation of a customer: the owner reminded, or the
    managers told (escalated). Written only by interactions.escalation, never edited; the
    customer timeline reads them."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", _("Owner reminded")
        ESCALATION = "escalation", _("Escalated to the managers")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="followup_events", on_delete=models.CASCADE
    )
    rule = models.ForeignKey(
        FollowUpRule,
        verbose_name=_("rule"),
        related_name="events",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    # Whole days without an interaction when the stage was reached.
    days = models.PositiveIntegerField(_("days without interaction"))
    task = models.ForeignKey(
        Task, verbose_name=_("task"), related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    # Who was told of the escalation (names at the time, for the timeline).
    notified = models.CharField(_("notified"), max_length=500, blank=True)
    returned_to_pool = models.BooleanField(_("returned to the pool"), default=False)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("follow-up escalation event")
        verbose_name_plural = _("follow-up escalation events")
        ordering = ["-at", "-id"]
        indexes = [
            # The customer timeline.
            models.Index(fields=["customer", "-at"], name="followupevent_customer_idx"),
            # The admin list, newest first.
            models.Index(fields=["-at", "-id"], name="followupevent_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.kind}"
