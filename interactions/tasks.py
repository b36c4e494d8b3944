from celery import shared_task

from interactions.services import send_due_notifications as _send_due_notifications


@shared_task
def send_due_notifications() -> dict[str, int]:
    """Every few minutes (beat): due/overdue tasks, reminders, SLA warnings and breaches.
    Idempotent: one notification per record and state."""
    return _send_due_notifications()


@shared_task
def info_update_reminders() -> dict[str, int]:
    """Daily: one "verify details" task per customer whose details are due (资料更新提醒)."""
    from core.jobs import run_job
    from interactions.jobs import info_update_reminders as job

    return run_job("info_update_reminders", job)


@shared_task
def care_reminders() -> dict[str, int]:
    """Daily: greeting tasks for birthdays and customer anniversaries a few days ahead
    (客户关怀). Idempotent; recorded as a JobRun."""
    from core.jobs import run_job
    from interactions.care import care_reminders as job

    return run_job("care_reminders", job)


@shared_task
def followup_escalation() -> dict[str, int]:
    """Daily: "no follow-up in N days" rules (跟进超时): remind owners, then tell managers and
    mark customers high-risk (optionally back to the pool). Idempotent; recorded as a JobRun."""
    from core.jobs import run_job
    from interactions.escalation import JOB_NAME, followup_escalation_run

    return run_job(JOB_NAME, followup_escalation_run)
