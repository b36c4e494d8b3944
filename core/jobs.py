"""Running scheduled jobs with a record of each run.

Every periodic job is a Celery task (declared in CELERY_BEAT_SCHEDULE) and a management
command; both call `run_job(name, function)`, which writes a JobRun row (started, finished,
counts, error) that admins can browse, and re-raises errors so Celery logs and retries them.
"""

import logging
import traceback
from collections.abc import Callable

from django.utils import timezone

from core.models import JobRun

logger = logging.getLogger(__name__)


def run_job(name: str, function: Callable[[], dict | int | None]) -> dict:
    """Run `function` (returns its counts: a dict, a number or None) and record the run."""
    run = JobRun.objects.create(name=name)
    try:
        result = function()
    except Exception:
        JobRun.objects.filter(pk=run.pk).update(
            status=JobRun.Status.FAILED, finished_at=timezone.now(), error=traceback.format_exc()[-4000:]
        )
        logger.exception("job %s failed", name)
        raise
    counts = result if isinstance(result, dict) else ({"count": result} if result is not None else {})
    JobRun.objects.filter(pk=run.pk).update(
        status=JobRun.Status.SUCCEEDED, finished_at=timezone.now(), counts=counts
    )
    logger.info("job %s: %s", name, counts)
    return counts
