import logging

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
