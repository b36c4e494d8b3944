"""Back up the database now: the same job Celery beat runs nightly ("database-backup")."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from core.backup import JOB_NAME, BackupError, backup_run
from core.jobs import run_job


class Command(BaseCommand):
    help = (
        "Back up the database now (encrypted, into BACKUP_DIR, with a manifest), then delete "
        "backups the retention policy no longer keeps. Recorded as a job run."
    )

    def handle(self, *args, **options):
        try:
            counts = run_job(JOB_NAME, backup_run)
        except (BackupError, ImproperlyConfigured, OSError) as exc:
            raise CommandError(f"Backup failed: {exc}") from exc
        if counts.get("skipped"):
            raise CommandError("Another backup is running (BACKUP_DIR is locked); nothing was done.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up to {settings.BACKUP_DIR / counts['file']} ({counts['size']} bytes, "
                f"{counts['tables']} tables, {counts['rows']} rows); "
                f"{counts['deleted']} old backups deleted by the retention policy."
            )
        )
