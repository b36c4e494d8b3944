from celery import shared_task

from core.jobs import run_job
from reports.digest import daily_digest as _daily_digest


@shared_task
def daily_digest() -> dict[str, int]:
    """Every morning: one summary per staff member (tasks due and overdue, new churn warnings)."""
    return run_job("daily_digest", _daily_digest)
