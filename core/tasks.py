import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """A periodic no-op that proves beat and the worker are alive (see the worker log)."""
    now = timezone.now().isoformat()
    logger.info("heartbeat at %s", now)
    return now


@shared_task
def add(x: int, y: int) -> int:
    """Smallest possible round trip, used by the Celery integration test and `make worker-check`."""
    return x + y
