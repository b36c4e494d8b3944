"""Settings for the CRM, read from the environment (see .env.example).

One settings module serves development, tests and production. The embedded default
(no DATABASE_URL, no CELERY_BROKER_URL) is SQLite at var/db.sqlite3 with Celery tasks
run in-process, which is what `make run` uses. With DEBUG off, every secret must come
from the environment or start-up stops with a message naming the missing variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is optional (ENV_FILE names another; empty reads none). Variables already
# in the environment win over the file.
_ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _ENV_FILE and Path(_ENV_FILE).is_file():
    env.read_env(_ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks. They are only used with DEBUG on, never in production.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
_DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="
_DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-not-for-production"
_DEV_BACKUP_ENCRYPTION_KEY = "ZGV2LW9ubHktYmFja3VwLWtleS1ub3QtZm9yLXByb2Q="


def _required_secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"The environment variable {name} is not set. It is required when DEBUG is off; "
        f"see .env.example for how to generate it."
    )


SECRET_KEY = _required_secret("SECRET_KEY", _DEV_SECRET_KEY)
# Previous SECRET_KEYs still accepted for signatures while rotating (README "Key management").
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Field-level encryption of personal data: a comma-separated list of Fernet keys.
# The first key encrypts; every key decrypts (so old keys can be rotated out).
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required_secret("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_ENCRYPTION_KEY).split(",")
    if k.strip()
]
# Key for the keyed hashes (blind index) that make exact search on encrypted fields possible.
BLIND_INDEX_KEY = _required_secret("BLIND_INDEX_KEY", _DEV_BLIND_INDEX_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "simple_history",
    "axes",
    "csp",
    # Two-factor authentication (TOTP apps and one-time recovery codes); before "core", whose
    # admin unregisters their device admins (core/admin.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # The REST API (core/api.py, each app's api.py, crm/api.py) and its OpenAPI schema and
    # docs; the sidecar serves Swagger UI's files from our own static files (no CDN).
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "customers",
    "interactions",
    "sales",
    "marketing",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy header on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): has this session passed the second login step (django-otp)?
    "django_otp.middleware.OTPMiddleware",
    # Sends a session that still owes its second step (or must enrol first) to that page.
    "core.middleware.TwoFactorMiddleware",
    # Tells the audit signal handlers (core/signals.py) who is changing roles and teams.
    "core.middleware.AuditRequestMiddleware",
    # After authentication: a signed-in user's saved language wins over the browser's.
    "core.middleware.UserLanguageMiddleware",
    # Every page requires login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Records who made each change in the customer history.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
                "interactions.context_processors.task_badge",
            ],
        },
    },
]

WSGI_APPLICATION = "crm.wsgi.application"

# Database: PostgreSQL in production and tests; SQLite is the embedded default for `make run`.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# An optional PostgreSQL read replica (streaming replication of the same database): reports,
# the dashboard and export rows read from it (core/replica.py); everything else stays on
# "default".
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "login"

# django-axes first: it refuses a login attempt while its username + IP is locked out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Lockout after repeated failed logins (django-axes; README "Security"). A username tried
# from one address is locked after AXES_FAILURE_LIMIT failures in a row, for
# AXES_COOLOFF_MINUTES (each further try while locked starts the wait again); the same
# username from another address, and other usernames from the same address, are not, so an
# attacker cannot lock a colleague out from elsewhere. Admins unlock in the admin (Axes →
# Access attempts) or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
_AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
if AXES_FAILURE_LIMIT < 1 or _AXES_COOLOFF_MINUTES < 0:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT must be 1 or more and AXES_COOLOFF_MINUTES 0 or more.")
# 0 minutes: locked until an admin unlocks.
AXES_COOLOFF_TIME = timedelta(minutes=_AXES_COOLOFF_MINUTES) if _AXES_COOLOFF_MINUTES else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.views.login_locked_out"
# Successful logins are already in our audit log; axes' own access log would keep a second
# copy (with user agents) for ever.
AXES_DISABLE_ACCESS_LOG = True

# Two-factor authentication (core/twofactor.py; README "Security"). Anyone may enrol a TOTP
# app on their account page; the roles named here must enrol before they can use the app.
# Role names: admin (superusers count as admins), sales_manager (or "manager"), sales_rep,
# customer_service. Empty: optional for everyone.
_TWO_FACTOR_ROLE_ALIASES = {"manager": "sales_manager"}
REQUIRE_2FA_ROLES = sorted(
    {_TWO_FACTOR_ROLE_ALIASES.get(r.strip(), r.strip()) for r in env.list("REQUIRE_2FA_ROLES", default=[])}
    - {""}
)
_TWO_FACTOR_ROLES = {"admin", "sales_manager", "sales_rep", "customer_service"}
if set(REQUIRE_2FA_ROLES) - _TWO_FACTOR_ROLES:
    raise ImproperlyConfigured(
        "REQUIRE_2FA_ROLES names unknown roles: "
        f"{', '.join(sorted(set(REQUIRE_2FA_ROLES) - _TWO_FACTOR_ROLES))}. "
        f"Use a comma-separated list of: {', '.join(sorted(_TWO_FACTOR_ROLES))}."
    )
# The name authenticator apps show next to the username.
OTP_TOTP_ISSUER = env.str("TWO_FACTOR_ISSUER", default="CRM")
# django-otp's own throttle: after each wrong code the next try on that device must wait
# 1, 2, 4, 8 ... seconds (doubling); a right code resets it.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: Simplified Chinese by default, English as the second UI language.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_NAME = "crm_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600

# Static files: our own CSS/JS in static/, vendor assets from npm packages in node_modules/
# (installed by `make`; never from a CDN), served by WhiteNoise in production.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", BASE_DIR / "node_modules" / "bootstrap-icons" / "font"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Celery. Without a broker the tasks run in-process (eager), which suits the embedded default.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or env.str("REDIS_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or CELERY_BROKER_URL or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every periodic job is declared here, in one place. Later issues add their jobs.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "core.tasks.heartbeat",
        "schedule": env.float("HEARTBEAT_SCHEDULE_SECONDS", default=300.0),
    },
    # Webhook deliveries whose retry is due but were not picked up (broker down, restart).
    "webhook-retry-due": {
        "task": "core.tasks.webhooks_retry_due",
        "schedule": env.float("WEBHOOK_SWEEP_SECONDS", default=300.0),
    },
    "task-and-ticket-notifications": {
        "task": "interactions.tasks.send_due_notifications",
        "schedule": env.float("NOTIFICATION_SCHEDULE_SECONDS", default=300.0),
    },
    "sales-automation": {
        "task": "sales.tasks.run_sales_automation",
        "schedule": env.float("SALES_AUTOMATION_SCHEDULE_SECONDS", default=900.0),
    },
    "info-update-reminders": {
        "task": "interactions.tasks.info_update_reminders",
        "schedule": crontab(hour=6, minute=30),
    },
    "daily-digest": {
        "task": "reports.tasks.daily_digest",
        "schedule": crontab(hour=7, minute=30),
    },
    "churn-warnings": {
        "task": "sales.tasks.churn_warnings",
        "schedule": crontab(
            hour=env.int("CHURN_WARNINGS_HOUR", default=4), minute=env.int("CHURN_WARNINGS_MINUTE", default=0)
        ),
    },
    # Nightly encrypted database backup, before the night's jobs change data in bulk.
    "database-backup": {
        "task": "core.tasks.backup_database",
        "schedule": crontab(
            hour=env.int("BACKUP_HOUR", default=1), minute=env.int("BACKUP_MINUTE", default=30)
        ),
    },
    "purge-customer-recycle-bin": {
        "task": "customers.tasks.purge_expired_customers",
        "schedule": crontab(hour=3, minute=15),
    },
    # Audit entries older than AUDIT_LOG_RETENTION_DAYS (kept forever when 0).
    "purge-audit-log": {
        "task": "core.tasks.purge_audit_log",
        "schedule": crontab(hour=3, minute=55),
    },
    # Value tiers before the morning jobs that read them (info-update periods per tier).
    "score-customers": {
        "task": "sales.tasks.score_customers",
        "schedule": crontab(
            hour=env.int("SCORE_CUSTOMERS_HOUR", default=2),
            minute=env.int("SCORE_CUSTOMERS_MINUTE", default=30),
        ),
    },
    # Marketing: start scheduled campaigns that are due; care campaigns (birthday, first
    # order, churn warning) once a day, after the churn job.
    "start-due-campaigns": {
        "task": "marketing.tasks.start_due_campaigns",
        "schedule": env.float("CAMPAIGN_SCHEDULE_SECONDS", default=60.0),
    },
    "care-campaigns": {
        "task": "marketing.tasks.care_campaigns",
        "schedule": crontab(
            hour=env.int("CARE_CAMPAIGNS_HOUR", default=9), minute=env.int("CARE_CAMPAIGNS_MINUTE", default=0)
        ),
    },
    "care-reminders": {
        "task": "interactions.tasks.care_reminders",
        "schedule": crontab(
            hour=env.int("CARE_REMINDERS_HOUR", default=6),
            minute=env.int("CARE_REMINDERS_MINUTE", default=45),
        ),
    },
    # Personal-data retention: customers inactive for PERSONAL_DATA_RETENTION_DAYS are
    # anonymised (does nothing while the setting is 0). After the backup and the recycle-bin
    # purge, before the export clean-up.
    "anonymise-inactive-customers": {
        "task": "customers.tasks.anonymise_inactive_customers",
        "schedule": crontab(hour=3, minute=30),
    },
    # Customer pool (公海): warn owners, then return customers past their pool's no-interaction
    # / no-purchase limit. After the churn job and the scoring, before the morning reminders.
    "pool-auto-return": {
        "task": "customers.tasks.pool_auto_return",
        "schedule": crontab(
            hour=env.int("POOL_AUTO_RETURN_HOUR", default=5),
            minute=env.int("POOL_AUTO_RETURN_MINUTE", default=15),
        ),
    },
    # The dashboard's pre-computed figures (reports/services.py): today and yesterday every
    # few minutes, every day at night (back-dated edits, reassignments, deletions), after the
    # night's jobs that change tiers, churn warnings and owners.
    "report-figures-recent": {
        "task": "reports.tasks.refresh_figures",
        "schedule": env.float("REPORT_FIGURES_SCHEDULE_SECONDS", default=600.0),
    },
    "report-figures-all": {
        "task": "reports.tasks.refresh_figures",
        "schedule": crontab(hour=5, minute=45),
        "kwargs": {"full": True},
    },
    # Follow-up escalation (跟进超时): remind owners, then tell managers (interactions.FollowUpRule).
    # After the pool's automatic return, before the morning reminders and the digest.
    "followup-escalation": {
        "task": "interactions.tasks.followup_escalation",
        "schedule": crontab(
            hour=env.int("FOLLOWUP_ESCALATION_HOUR", default=6),
            minute=env.int("FOLLOWUP_ESCALATION_MINUTE", default=15),
        ),
    },
    # Background export files past EXPORT_KEEP_DAYS (they hold personal data: keep them short).
    "cleanup-exports": {
        "task": "core.tasks.cleanup_exports",
        "schedule": crontab(hour=3, minute=45),
    },
}

# Backups (core/backup.py; README "Backup and restore"): encrypted dumps of the database.
# In production BACKUP_DIR is a volume on another disk or an off-site mount (docker-compose
# mounts the `backups` volume at /backups).
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups")))
# AES-256 key of the backup files: 32 random bytes, url-safe base64. Keep a copy away from
# the backups: without it no backup can be restored.
BACKUP_ENCRYPTION_KEY = _required_secret("BACKUP_ENCRYPTION_KEY", _DEV_BACKUP_ENCRYPTION_KEY)
# Retention: the newest backup of each of the last N days, and of each of the last N ISO weeks.
BACKUP_KEEP_DAILY = env.int("BACKUP_KEEP_DAILY", default=7)
BACKUP_KEEP_WEEKLY = env.int("BACKUP_KEEP_WEEKLY", default=4)
if BACKUP_KEEP_DAILY < 0 or BACKUP_KEEP_WEEKLY < 0:
    raise ImproperlyConfigured("BACKUP_KEEP_DAILY and BACKUP_KEEP_WEEKLY must be 0 or more.")

# Audit log retention: entries older than this many days are deleted nightly (core.tasks.
# purge_audit_log); 0 keeps them forever. Three years by default: long enough for PIPL/GDPR
# inquiries and audits, short enough not to keep who-saw-what about people for ever.
AUDIT_LOG_RETENTION_DAYS = env.int("AUDIT_LOG_RETENTION_DAYS", default=3 * 365)
if AUDIT_LOG_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("AUDIT_LOG_RETENTION_DAYS must be 0 (keep forever) or more.")

# Personal-data retention (README "Personal-information rights"): customers with no activity
# (interaction, order, ticket, change) for this many days are anonymised nightly
# (customers.tasks.anonymise_inactive_customers). 0 or empty: off, nothing is anonymised.
try:
    PERSONAL_DATA_RETENTION_DAYS = int(env.str("PERSONAL_DATA_RETENTION_DAYS", default="").strip() or 0)
except ValueError:
    raise ImproperlyConfigured(
        "PERSONAL_DATA_RETENTION_DAYS must be a whole number of days (0: off)."
    ) from None
if PERSONAL_DATA_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("PERSONAL_DATA_RETENTION_DAYS must be 0 (off) or more.")

# Cache: Redis when configured (shared by web and workers), local memory otherwise.
_REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS_URL}
        if _REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Email: console in development; EMAIL_URL (smtp://user:pass@host:587, ...) in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# In-app notifications (the bell) are always created; with this on, each new one is also
# emailed to its recipient. A sender may force it either way (notify(email=True/False)).
NOTIFICATION_EMAIL_ENABLED = env.bool("NOTIFICATION_EMAIL_ENABLED", default=False)

# Security. Production-like settings follow from DEBUG being off.
# Sessions end after SESSION_COOKIE_AGE seconds without a request (8 hours: a working day),
# not after a fixed time: every request saves the session and so moves its expiry on.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
if SESSION_COOKIE_AGE < 60:
    raise ImproperlyConfigured("SESSION_COOKIE_AGE is in seconds and must be at least 60.")
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The container healthcheck calls /healthz/ over plain HTTP from inside the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_REFERRER_POLICY = "same-origin"
    # HSTS preload is a one-way commitment for the whole domain: leave it to each deployment
    # (SECURE_HSTS_PRELOAD=true) rather than warn on every check.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Content-Security-Policy (django-csp): scripts, styles, fonts, images and fetches only from
# this site, so injected markup cannot run scripts or load anything from elsewhere. No inline
# scripts, event handlers or style attributes anywhere: pages use static files and data
# attributes (static/core/crm.js: data-confirm, data-autosubmit, data-progress), and a test
# renders every page to keep it that way (core/tests/test_csp.py). "data:" images are the
# small SVGs Bootstrap's CSS draws checkboxes and selects with. frame-ancestors repeats
# X-Frame-Options: DENY for browsers that read only one of them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task run is noise in the embedded (eager) mode; workers log their own.
        "celery.app.trace": {"level": env.str("CELERY_TRACE_LOG_LEVEL", default="WARNING")},
        # Failed logins and lockouts (WARNING) without a line per start-up and success.
        "axes": {"level": "WARNING"},
    },
}

# Customer ledger.
# Details not confirmed for this many days count as stale (the quarterly re-verification).
CUSTOMER_INFO_STALE_DAYS = env.int("CUSTOMER_INFO_STALE_DAYS", default=90)
# Per-tier periods, e.g. "vip=30,active=60" (tiers: vip, active, potential, dormant).
CUSTOMER_INFO_STALE_DAYS_BY_TIER = {
    tier: int(days)
    for tier, days in env.dict("CUSTOMER_INFO_STALE_DAYS_BY_TIER", default={"vip": "30"}).items()
}
# The "verify details" task is due this many days after the reminder job makes it.
INFO_UPDATE_TASK_DUE_DAYS = env.int("INFO_UPDATE_TASK_DUE_DAYS", default=7)
# Birthday and anniversary reminders (客户关怀) come this many days before the day (0: on it).
CARE_REMINDER_DAYS_AHEAD = env.int("CARE_REMINDER_DAYS_AHEAD", default=3)
if CARE_REMINDER_DAYS_AHEAD < 0:
    raise ImproperlyConfigured("CARE_REMINDER_DAYS_AHEAD must be 0 or more.")
# Deleted customers stay restorable in the recycle bin for this many days, then are purged.
CUSTOMER_RECYCLE_BIN_DAYS = env.int("CUSTOMER_RECYCLE_BIN_DAYS", default=30)

# Spreadsheet imports: largest upload accepted, rows per committed batch, and how long after
# an import "undo" stays available.
IMPORT_MAX_UPLOAD_MB = env.int("IMPORT_MAX_UPLOAD_MB", default=50)
# Larger uploads stop being stored as soon as they pass the limit (core/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "core.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=1000)
IMPORT_UNDO_HOURS = env.int("IMPORT_UNDO_HOURS", default=72)
# Lists never count beyond this many rows ("10,000+"): an exact COUNT(*) over a million
# rows costs more than the page itself.
LIST_COUNT_LIMIT = env.int("LIST_COUNT_LIMIT", default=10000)

# Exports (core/exports.py). Lists up to this many rows download at once; longer ones are
# built in the background and fetched from "My exports", which keeps them this many days.
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=2000)
EXPORT_KEEP_DAYS = env.int("EXPORT_KEEP_DAYS", default=7)
if EXPORT_SYNC_MAX_ROWS < 0 or EXPORT_KEEP_DAYS < 1:
    raise ImproperlyConfigured("EXPORT_SYNC_MAX_ROWS must be 0 or more and EXPORT_KEEP_DAYS 1 or more.")

# Sales. A new customer becomes an existing customer on the second purchase, or this many
# days after the first.
CUSTOMER_EXISTING_AFTER_DAYS = env.int("CUSTOMER_EXISTING_AFTER_DAYS", default=180)

# Service tickets: hours from opening to the SLA due time, per priority; and how long before
# the due time the assignee is warned.
TICKET_SLA_HOURS = {
    key: env.int(f"TICKET_SLA_HOURS_{key.upper()}", default=default)
    for key, default in (("urgent", 4), ("high", 8), ("normal", 24), ("low", 72))
}
TICKET_SLA_WARNING_MINUTES = env.int("TICKET_SLA_WARNING_MINUTES", default=60)
# Tasks due within this many minutes get a "due soon" notification.
TASK_DUE_SOON_MINUTES = env.int("TASK_DUE_SOON_MINUTES", default=60)

# Demo data: the one documented password of the demo users created by `seed_demo`.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-crm-2026")


# --- REST API (README "API") -------------------------------------------------------------
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=200)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api_auth.ApiTokenAuthentication",
        # The browsable docs and the schema for a signed-in browser session (CSRF enforced).
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Pagination (core.api.KeysetPagination) and filtering (core.api.ScopedFilterBackend)
    # are set on core.api.ScopedViewSet: naming them here would import core.api too early.
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["core.api_auth.UserRateThrottle", "core.api_auth.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Per user (whichever token or session), and per address for unauthenticated calls.
        "user": env.str("API_THROTTLE_USER", default="1000/hour"),
        "anon": env.str("API_THROTTLE_ANON", default="60/hour"),
    },
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": (
        "Customers, contacts, interactions, follow-up tasks, orders and opportunities, with the "
        "same record scope, permissions and masking as the web pages. Authenticate with "
        "`Authorization: Bearer <token>` (a token made on My account → API tokens)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema needs a signed-in user or a token, like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
    },
    "SECURITY": [{"bearerAuth": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "sales.models.Order.Status"},
}
# Webhooks (core/webhooks.py): tries per delivery, the first retry's delay (doubled each time),
# the request timeout, and whether private/loopback addresses may be called (off: SSRF guard).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=60)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)

# Public web forms (线上表单, /f/<token>/): submissions per visitor address per hour (all
# forms together) and per form per minute, counted in the cache; over either limit the
# visitor gets a 429 page and nothing is written. A submission sent sooner than
# WEBFORM_MIN_SECONDS after the form was shown, or later than WEBFORM_MAX_AGE_HOURS, is spam.
WEBFORM_RATE_PER_IP_PER_HOUR = env.int("WEBFORM_RATE_PER_IP_PER_HOUR", default=10)
WEBFORM_RATE_PER_FORM_PER_MINUTE = env.int("WEBFORM_RATE_PER_FORM_PER_MINUTE", default=30)
WEBFORM_MIN_SECONDS = env.int("WEBFORM_MIN_SECONDS", default=3)
WEBFORM_MAX_AGE_HOURS = env.int("WEBFORM_MAX_AGE_HOURS", default=24)
for _name in ("WEBFORM_RATE_PER_IP_PER_HOUR", "WEBFORM_RATE_PER_FORM_PER_MINUTE", "WEBFORM_MAX_AGE_HOURS"):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
if WEBFORM_MIN_SECONDS < 0:
    raise ImproperlyConfigured("WEBFORM_MIN_SECONDS must be 0 or more.")

# --- marketing (segments and campaigns, marketing/) ---------------------------------------
# The address people reach the CRM at: unsubscribe links in marketing emails point there.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
# The SMS gateway: a dotted path to a class with send(*, to, text) (marketing/gateways.py).
# The default only logs; plug in a provider's backend in production.
SMS_BACKEND = env.str("SMS_BACKEND", default="marketing.gateways.LoggingSmsBackend")
# Campaign messages sent per minute at most (email and SMS together, per campaign).
CAMPAIGN_RATE_PER_MINUTE = env.int("CAMPAIGN_RATE_PER_MINUTE", default=60)
if CAMPAIGN_RATE_PER_MINUTE < 1:
    raise ImproperlyConfigured("CAMPAIGN_RATE_PER_MINUTE must be 1 or more.")
