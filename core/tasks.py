import logging
import math

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> dict:
    """A periodic job that proves beat, the broker, the worker and the database work
    together: each run leaves a JobRun row (admin → Job runs)."""
    from core.jobs import run_job

    return run_job("heartbeat", lambda: {"at": timezone.now().isoformat()})


@shared_task
def add(x: int, y: int) -> int:
    """Smallest possible round trip, used by the Celery integration test and `make worker-check`."""
    return x + y


@shared_task(bind=True, max_retries=2, default_retry_delay=15 * 60)
def backup_database(self) -> dict:
    """Nightly (beat "database-backup", also `manage.py backup_now`): an encrypted backup of
    the database into BACKUP_DIR, then retention. Recorded as a JobRun; a run while another
    is in progress is skipped. A failed dump (database restarting, disk full) is retried."""
    from core.backup import JOB_NAME, BackupError, backup_run
    from core.jobs import run_job

    try:
        return run_job(JOB_NAME, backup_run)
    except (BackupError, OSError) as exc:
        raise self.retry(exc=exc) from exc


@shared_task
def import_validate(job_id: int) -> None:
    """Dry run of an import: every row checked, nothing written (the wizard's preview)."""
    from core.importing import import_run
    from core.models import ImportJob

    job = ImportJob.objects.select_related("created_by", "default_owner").get(pk=job_id)
    import_run(job=job, dry_run=True)


@shared_task
def import_commit(job_id: int) -> None:
    """The import itself, committed in batches with progress on the job."""
    from core.importing import import_run
    from core.models import ImportJob

    job = ImportJob.objects.select_related("created_by", "default_owner").get(pk=job_id)
    import_run(job=job, dry_run=False)


@shared_task
def import_undo(job_id: int, user_id: int) -> None:
    """Undo an import: delete what it created, restore what it updated."""
    from core import importing
    from core.models import ImportJob, User

    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.UNDOING:
        importing.import_undo_claimed(job=job, user=User.objects.get(pk=user_id))


@shared_task
def run_export_job(job_id: int) -> int | None:
    """Build the file of a long export (queued by the export views). Idempotent: the job is
    claimed with a conditional update, so a second delivery does nothing."""
    from core.exports import export_job_run

    return export_job_run(job_id)


@shared_task
def cleanup_exports() -> dict:
    """Nightly (beat): delete export files and jobs older than EXPORT_KEEP_DAYS."""
    from core.exports import exports_cleanup
    from core.jobs import run_job

    return run_job("cleanup_exports", exports_cleanup)


@shared_task
def purge_audit_log() -> dict:
    """Nightly (beat "purge-audit-log", also `manage.py purge_audit_log`): delete audit
    entries older than AUDIT_LOG_RETENTION_DAYS. Recorded as a JobRun."""
    from core.audit import PURGE_JOB_NAME, audit_log_purge
    from core.jobs import run_job

    return run_job(PURGE_JOB_NAME, audit_log_purge)


@shared_task
def webhook_deliver(delivery_id: int) -> str:
    """One try of a webhook delivery (core/webhooks.py); a failed try schedules the next one
    with exponential back-off (run at once when tasks run eagerly, as in unit tests)."""
    from core.webhooks import _enqueue, webhook_attempt

    delivery = webhook_attempt(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.status == delivery.Status.PENDING and delivery.next_retry_at is not None:
        # Rounded up: a retry never comes before its back-off.
        delay = max(0, math.ceil((delivery.next_retry_at - timezone.now()).total_seconds()))
        _enqueue([delivery.pk], countdown=delay)
    return delivery.status


@shared_task
def webhooks_retry_due() -> dict:
    """Beat job: pending deliveries the broker lost are enqueued again."""
    from core.jobs import run_job
    from core.webhooks import webhooks_retry_due as retry_due

    return run_job("webhooks_retry_due", lambda: {"enqueued": retry_due()})
