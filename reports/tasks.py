from celery import shared_task
from django.core.cache import cache

from core.jobs import run_job
from reports.digest import daily_digest as _daily_digest
from reports.services import figures_refresh_due


@shared_task
def daily_digest() -> dict[str, int]:
    """Every morning: one summary per staff member (tasks due and overdue, new churn warnings)."""
    return run_job("daily_digest", _daily_digest)


# Held from "Update now" until the job it queued has run (at most a minute), so that a storm
# of clicks queues one job.
REFRESH_LOCK = "reports:figures-refresh"


@shared_task
def refresh_figures(full: bool = False) -> dict[str, int]:
    """The dashboard's pre-computed figures: the recent days (every few minutes) or all (at
    night)."""
    try:
        return run_job("report_figures", lambda: figures_refresh_due(full=full))
    finally:
        cache.delete(REFRESH_LOCK)
