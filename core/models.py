import re

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

_HAN = re.compile(r"[\u3400-\u9fff]")


class Role(models.TextChoices):
    """The four roles. Each is a Django group (created by a data migration) whose
    permissions say what its members may do; the name is stable, the label translated."""

    ADMIN = "admin", _("Admin")
    SALES_MANAGER = "sales_manager", _("Sales manager")
    SALES_REP = "sales_rep", _("Sales rep")
    CUSTOMER_SERVICE = "customer_service", _("Customer service")


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("managers"),
        related_name="managed_teams",
        blank=True,
        help_text=_("Managers see and reassign the work of everyone in the team."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A member of staff. Roles are Django groups named after `Role` values."""

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        related_name="members",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Interface language. Empty: follow the browser."),
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def get_full_name(self) -> str:
        # Chinese names read family name first, without a space: 李小明.
        if _HAN.search(self.first_name + self.last_name):
            return f"{self.last_name}{self.first_name}".strip()
        return super().get_full_name()

    @cached_property
    def managed_team_ids(self) -> list[int]:
        """Teams this user manages (cached per request: record scoping asks often)."""
        return list(self.managed_teams.values_list("id", flat=True))

    def has_role(self, role: Role | str) -> bool:
        return any(g.name == str(role) for g in self.groups.all())

    @property
    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [str(labels[g.name]) for g in self.groups.all() if g.name in labels]


class AuditLogQuerySet(models.QuerySet):
    # Rows deleted per statement by the retention job: short locks, bounded transaction size.
    PURGE_BATCH_SIZE = 5000

    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")

    def _purge_before(self, cutoff) -> int:
        """Delete every entry older than `cutoff` and return how many went.

        The retention job's delete (core.audit.audit_log_purge) and the only code path that
        deletes audit entries: a raw DELETE through the base manager, since delete() above
        refuses. In batches, oldest first, so a first run over years of entries holds no long
        lock and can be interrupted without losing its progress.
        """
        base = self.model._base_manager
        total = 0
        while True:
            oldest = base.filter(at__lt=cutoff).order_by("at", "pk").values("pk")[: self.PURGE_BATCH_SIZE]
            batch = base.filter(pk__in=oldest)
            deleted = batch._raw_delete(batch.db)
            total += deleted
            if deleted < self.PURGE_BATCH_SIZE:
                return total

    # Underscored methods are not copied to the manager unless told (AuditLog.objects._purge_before).
    _purge_before.queryset_only = False

    def _redact_records(self, object_type: str, object_ids: list, replacement: str) -> int:
        """Replace the name (object_repr) of entries about the given records.

        The second and last exception to append-only: erasing a person (PIPL art. 47, GDPR
        art. 17; customers.privacy) must not leave their name in the log. The entries stay
        (who did what, when, from where); only the label changes. Through the base manager,
        since update() above refuses.
        """
        if not object_ids:
            return 0
        base = self.model._base_manager
        return base.filter(object_type=object_type, object_id__in=[str(i) for i in object_ids]).update(
            object_repr=replacement[:200]
        )

    _redact_records.queryset_only = False


class AuditLog(models.Model):
    """Append-only record of sensitive actions: who did what to which record, from where.

    Written through core.audit.audit_log(); never updated or deleted (also not in the admin),
    except by the retention job, which removes entries older than AUDIT_LOG_RETENTION_DAYS.
    """

    class Action(models.TextChoices):
        REVEAL = "reveal", _("Revealed a sensitive field")
        DELETE = "delete", _("Deleted")
        RESTORE = "restore", _("Restored")
        PURGE = "purge", _("Purged")
        MERGE = "merge", _("Merged")
        OWNER_CHANGE = "owner_change", _("Changed owner")
        BULK_ACTION = "bulk_action", _("Bulk action")
        KEY_ROTATION = "key_rotation", _("Rotated encryption keys")
        # Whole-database backups and restores (core/backup.py); "restore" above is the
        # recycle bin's.
        BACKUP = "backup", _("Backed up the database")
        BACKUP_RESTORE = "backup_restore", _("Restored the database from a backup")
        EXPORT = "export", _("Exported")
        LOGIN = "login", _("Logged in")
        LOGOUT = "logout", _("Logged out")
        LOGIN_FAILED = "login_failed", _("Failed login")
        IMPORT = "import", _("Imported")
        DUPLICATE_OVERRIDE = "duplicate_override", _("Created a customer despite a duplicate phone or email")
        IMPORT_UNDO = "import_undo", _("Undid an import")
        # Access changes, recorded by signals whoever makes them (admin, shell, commands):
        # core/signals.py. "delete" above also records a deleted user.
        USER_CREATE = "user_create", _("Created a user")
        USER_CHANGE = "user_change", _("Changed account status")
        ROLE_CHANGE = "role_change", _("Changed roles")
        TEAM_CHANGE = "team_change", _("Changed team or managers")
        PERMISSION_CHANGE = "permission_change", _("Changed permissions")
        ACCOUNT_LOCKED = "account_locked", _("Locked out after failed logins")
        ACCOUNT_UNLOCKED = "account_unlocked", _("Unlocked a locked-out login")
        # Personal-information rights (customers/privacy.py).
        PRIVACY_EXPORT = "privacy_export", _("Exported a person's data (access request)")
        ERASE = "erase", _("Erased personal data")
        # Two-factor authentication (core/twofactor.py).
        TWO_FACTOR_ENABLED = "2fa_enabled", _("Enabled two-factor authentication")
        TWO_FACTOR_DISABLED = "2fa_disabled", _("Disabled two-factor authentication")
        TWO_FACTOR_RESET = "2fa_reset", _("Reset a user's two-factor authentication")
        TWO_FACTOR_FAILED = "2fa_failed", _("Wrong two-factor code")
        TWO_FACTOR_RECOVERY_USED = "2fa_recovery_used", _("Signed in with a recovery code")
        TWO_FACTOR_NEW_CODES = "2fa_new_codes", _("Generated new recovery codes")
        # REST API tokens and webhooks (core/api.py, core/webhooks.py).
        API_TOKEN_CREATE = "api_token_create", _("Created an API token")
        API_TOKEN_REVOKE = "api_token_revoke", _("Revoked an API token")
        API_READ = "api_read", _("Read personal data through the API")
        WEBHOOK_CREATE = "webhook_create", _("Registered a webhook")
        WEBHOOK_RESEND = "webhook_resend", _("Re-sent a webhook delivery")

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        related_name="+",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    object_type = models.CharField(_("record type"), max_length=50, blank=True)
    object_id = models.CharField(_("record ID"), max_length=50, blank=True)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=50, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at"]
        indexes = [
            # "What happened to this record?" on the record's pages.
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx"),
            # Admin filter by person.
            models.Index(fields=["actor", "-at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.get_action_display()} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


class NotificationQuerySet(models.QuerySet):
    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """One message in a user's notification centre (the bell in the navigation).

    Written through core.notifications.notify(). `kind` is a free code owned by the app that
    sends it ("task_assigned", "ticket_sla_breached", ...); `title` and `body` are already in
    the recipient's language. `dedupe_key` makes a job that runs twice notify once.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        related_name="notifications",
        on_delete=models.CASCADE,
        # The (recipient, -created_at) index below starts with recipient and serves the
        # foreign key's lookups (cascade deletes); a separate index would only cost writes.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=50)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    dedupe_key = models.CharField(
        _("deduplication key"),
        max_length=200,
        blank=True,
        help_text=_("At most one notification per recipient and key; empty: no deduplication."),
    )

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A job that runs twice (or two workers racing) creates one notification.
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_unique_dedupe_key",
            ),
        ]
        indexes = [
            # The navigation badge (count of my unread) and "mark all as read".
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            # My notifications, newest first (keyset pages order by created_at, then id).
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class JobRun(models.Model):
    """One run of a scheduled job (Celery beat or its management command): when, how it
    went, what it counted. Admins browse these in the admin."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    name = models.CharField(_("job"), max_length=100)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RUNNING)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        # The admin list, and "when did this job last succeed?".
        indexes = [models.Index(fields=["name", "-started_at"], name="jobrun_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class ImportJob(models.Model):
    """One spreadsheet import: the file, the mapping chosen, the options, progress and the
    four outcome counts. Apps register what they import in core.importing (kind → importer),
    so this model knows no domain app."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")
        UNDOING = "undoing", _("Undoing")
        UNDONE = "undone", _("Undone")

    class OnDuplicate(models.TextChoices):
        SKIP = "skip", _("Skip the row")
        UPDATE = "update", _("Update the existing record")
        CREATE = "create", _("Create a new record anyway")

    kind = models.CharField(_("kind"), max_length=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), related_name="+", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Kept through the storage API, so a worker on another machine can read it.
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("file size"), default=0)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.UPLOADED)
    dry_run = models.BooleanField(_("dry run"), default=False)
    # 1-based row number of the header in the sheet, and the header texts as read.
    header_row = models.PositiveIntegerField(_("header row"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=list, blank=True)
    # Column index (as text) → field name; columns left out are ignored.
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    on_duplicate = models.CharField(
        _("when a record already exists"),
        max_length=10,
        choices=OnDuplicate.choices,
        default=OnDuplicate.SKIP,
    )
    match_on = models.JSONField(_("match existing records on"), default=list, blank=True)
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("default owner"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    total_rows = models.PositiveIntegerField(_("rows in the file"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows done"), default=0)
    imported = models.PositiveIntegerField(_("imported"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    error_report = models.FileField(_("error report"), upload_to="imports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    # What the undo did: deleted, restored, kept (had work since), conflicts (changed since).
    undo_counts = models.JSONField(_("undo outcome"), default=dict, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        # "My imports" and the admins' list of all imports, newest first.
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="import_user_idx"),
            models.Index(fields=["-created_at", "-id"], name="import_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def outcome_total(self) -> int:
        return self.imported + self.updated + self.skipped + self.rejected

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status in (self.Status.DONE, self.Status.VALIDATED) else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.VALIDATING, self.Status.IMPORTING, self.Status.UNDOING)


class ImportItem(models.Model):
    """A record an import created or updated, so that "undo" can delete or restore it. For
    updates, the values before and after (JSON, encrypted: they hold personal data)."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")

    job = models.ForeignKey(ImportJob, related_name="items", on_delete=models.CASCADE)
    row_number = models.PositiveIntegerField()
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    before = EncryptedTextField(blank=True)
    after = EncryptedTextField(blank=True)

    class Meta:
        # Undo walks a job's items by action.
        indexes = [models.Index(fields=["job", "action", "id"], name="importitem_job_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.action} #{self.object_id}"


class ImportIssue(models.Model):
    """Why a row was skipped or rejected (one per row and problem), for the preview and the
    error report. The value may be personal data, so it is stored encrypted."""

    class Outcome(models.TextChoices):
        SKIPPED = "skipped", _("Skipped")
        REJECTED = "rejected", _("Rejected")

    job = models.ForeignKey(ImportJob, related_name="issues", on_delete=models.CASCADE)
    row_number = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=200, blank=True)
    value = EncryptedTextField(_("value"), blank=True)
    message = models.CharField(_("problem"), max_length=500)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)

    class Meta:
        ordering = ["row_number", "id"]
        # The preview pages through a job's issues in row order.
        indexes = [models.Index(fields=["job", "row_number", "id"], name="importissue_job_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.message}"


class ImportMapping(models.Model):
    """A user's saved column mapping for one kind of import: header text → field, applied
    before the built-in aliases the next time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", on_delete=models.CASCADE)
    kind = models.CharField(max_length=30)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="importmapping_user_kind_uniq")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}"


class ExportJob(models.Model):
    """A large export built in the background: the list filters as given, progress, and the
    finished file (kept through the storage API, removed after EXPORT_KEEP_DAYS)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("exported by"), related_name="+", on_delete=models.CASCADE
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    params = models.TextField(_("filters"), blank=True)
    format = models.CharField(_("format"), max_length=10)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows done"), default=0)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        # "My exports", newest first; the clean-up job by age.
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="export_user_idx"),
            models.Index(fields=["created_at"], name="export_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.format} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, now=None):
        """Not revoked, not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal token for the REST API (core/api.py), made by its user on the account page
    (or by an admin). Only a SHA-256 hash is stored: the token itself is shown once. Tokens
    are long random strings, so a plain hash (no salt, no stretching) is enough and lets the
    lookup be one indexed equality."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), related_name="api_tokens", on_delete=models.CASCADE
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the token is for, e.g. “ERP sync”."))
    # The first characters of the token, shown in lists so a person can tell tokens apart.
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        # The account page's list of a user's tokens (the key lookup uses the unique index).
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class WebhookEndpoint(models.Model):
    """A URL an admin registered to be told about events (core/webhooks.py)."""

    class Event(models.TextChoices):
        CUSTOMER_CREATED = "customer.created", _("Customer created")
        CUSTOMER_UPDATED = "customer.updated", _("Customer updated")
        ORDER_CREATED = "order.created", _("Order created")
        OPPORTUNITY_WON = "opportunity.won", _("Opportunity won")

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    # Signs every delivery (HMAC-SHA256); shown once when the endpoint is registered.
    secret = EncryptedTextField(_("secret"), editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["url", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one endpoint; each try is a WebhookAttempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), related_name="deliveries", on_delete=models.CASCADE
    )
    event = models.CharField(_("event"), max_length=50, choices=WebhookEndpoint.Event.choices)
    # The exact JSON body sent (event, id, timestamp, payload); signed per attempt.
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_retry_at = models.DateTimeField(_("next retry"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's list of an endpoint's deliveries, newest first.
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint_idx"),
            # The sweeper: pending deliveries whose retry is due.
            models.Index(
                fields=["next_retry_at"],
                name="webhookdelivery_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what came back and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), related_name="attempt_log", on_delete=models.CASCADE
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response_excerpt = models.CharField(_("response"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    next_retry_at = models.DateTimeField(_("next retry"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"


class CustomField(models.Model):
    """A field an admin adds to customers, contacts or opportunities without code (自定义字段).

    Values live in the `custom` JSON column of the target model, keyed by `key`, typed
    (numbers as numbers, dates as ISO text, several choices as a list); sensitive fields are
    encrypted there. Reading, validating, filtering, importing and exporting them is
    core.custom_fields'; the domain apps register their model for each target.
    """

    class Target(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        CONTACT = "contact", _("Contact")
        OPPORTUNITY = "opportunity", _("Opportunity")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        LONG_TEXT = "long_text", _("Long text")
        NUMBER = "number", _("Number (whole)")
        DECIMAL = "decimal", _("Decimal number")
        DATE = "date", _("Date")
        YES_NO = "yes_no", _("Yes/no")
        CHOICE = "choice", _("Single choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")

    # Kinds that may be sensitive: stored encrypted, matched exactly through a blind index.
    SENSITIVE_KINDS = (Kind.TEXT, Kind.LONG_TEXT, Kind.NUMBER, Kind.DECIMAL, Kind.DATE)
    CHOICE_KINDS = (Kind.CHOICE, Kind.MULTI_CHOICE)

    target = models.CharField(_("added to"), max_length=20, choices=Target.choices)
    key = models.SlugField(
        _("key"),
        max_length=40,
        help_text=_(
            "Stable name of the field in the database, imports and the API: lower-case letters, "
            "digits and underscores, starting with a letter. Cannot be changed later."
        ),
    )
    label_en = models.CharField(_("label (English)"), max_length=100, blank=True)
    label_zh_hans = models.CharField(_("label (Simplified Chinese)"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.TEXT)
    choices = models.TextField(
        _("choices"),
        blank=True,
        help_text=_(
            "Single and multiple choice only: one choice per line, as “value” or "
            "“value | English label | 中文标签”. The value is what is stored and imported."
        ),
    )
    required = models.BooleanField(_("required"), default=False)
    help_text_en = models.CharField(_("help text (English)"), max_length=300, blank=True)
    help_text_zh_hans = models.CharField(_("help text (Simplified Chinese)"), max_length=300, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0, help_text=_("Smaller numbers come first."))
    show_in_list = models.BooleanField(_("show as a list column"), default=False)
    filterable = models.BooleanField(_("offer as a list filter"), default=False)
    sensitive = models.BooleanField(
        _("sensitive (personal data)"),
        default=False,
        help_text=_(
            "Stored encrypted and shown masked, like phone numbers; filters match the exact value "
            "only. Text, number, decimal and date fields only. Cannot be changed once values exist."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["target", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["target", "key"], name="customfield_unique_key_per_target"),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()}: {self.label}"

    @property
    def label(self) -> str:
        """The label in the active language, else the other one, else the key."""
        from django.utils.translation import get_language

        first, second = (
            (self.label_zh_hans, self.label_en)
            if (get_language() or "").startswith("zh")
            else (self.label_en, self.label_zh_hans)
        )
        return first or second or self.key

    @property
    def help(self) -> str:
        from django.utils.translation import get_language

        if (get_language() or "").startswith("zh"):
            return self.help_text_zh_hans or self.help_text_en
        return self.help_text_en or self.help_text_zh_hans

    def choice_list(self) -> list[tuple[str, str]]:
        """(value, label in the active language) for each line of `choices`."""
        from django.utils.translation import get_language

        zh = (get_language() or "").startswith("zh")
        result = []
        for line in self.choices.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if not parts[0]:
                continue
            value = parts[0]
            en = parts[1] if len(parts) > 1 and parts[1] else ""
            cn = parts[2] if len(parts) > 2 and parts[2] else ""
            label = (cn or en) if zh else (en or cn)
            result.append((value, label or value))
        return result

    def choice_aliases(self) -> dict[str, str]:
        """Every way to write a choice (value and both labels) → its value, for imports."""
        aliases: dict[str, str] = {}
        for line in self.choices.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if not parts[0]:
                continue
            for part in parts:
                if part:
                    aliases.setdefault(part.casefold(), parts[0])
        return aliases
