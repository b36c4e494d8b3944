from celery import shared_task

from interactions.services import send_due_notifications as _send_due_notifications


@shared_task
def send_due_notifications() -> dict[str, int]:
    """Every few minutes (beat): due/overdue tasks, reminders, SLA warnings and breaches.
    Idempotent: one notification per record and state."""
    return _send_due_notifications()
