"""Delete old audit entries now: the same job Celery beat runs nightly ("purge-audit-log")."""

from django.conf import settings
from django.core.management.base import BaseCommand

from core.audit import PURGE_JOB_NAME, audit_log_purge
from core.jobs import run_job


class Command(BaseCommand):
    help = (
        "Delete audit-log entries older than AUDIT_LOG_RETENTION_DAYS (0: keep everything). "
        "Recorded as a job run."
    )

    def handle(self, *args, **options):
        counts = run_job(PURGE_JOB_NAME, audit_log_purge)
        if not settings.AUDIT_LOG_RETENTION_DAYS:
            self.stdout.write(
                "AUDIT_LOG_RETENTION_DAYS is 0: audit entries are kept forever; nothing deleted."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {counts['deleted']} audit entries older than "
                f"{settings.AUDIT_LOG_RETENTION_DAYS} days (before {counts['cutoff']})."
            )
        )
