from celery import shared_task

from core.jobs import run_job
from customers.models import Customer
from customers.services import customers_purge_expired, customers_refresh_tag_names


@shared_task
def purge_expired_customers() -> dict[str, int]:
    """Nightly: delete for good what stayed in the recycle bin past its retention."""
    return run_job("purge_recycle_bin", lambda: {"purged": customers_purge_expired()})


@shared_task
def refresh_tag_names(tag_id: int) -> int:
    """After a tag was renamed: its customers' tag text (and history) follow, in batches."""
    ids = list(Customer.objects.filter(tags__id=tag_id).values_list("pk", flat=True))
    changed = 0
    for start in range(0, len(ids), 1000):
        changed += customers_refresh_tag_names(
            customer_ids=ids[start : start + 1000], user=None, reason="tag-renamed"
        )
    return changed


@shared_task
def anonymise_inactive_customers() -> dict[str, int]:
    """Nightly: anonymise customers inactive for PERSONAL_DATA_RETENTION_DAYS (off when 0).
    Idempotent: an anonymised customer is never picked again."""
    from customers.privacy import RETENTION_JOB_NAME
    from customers.privacy import anonymise_inactive_customers as run

    return run_job(RETENTION_JOB_NAME, run)


@shared_task
def pool_auto_return() -> dict[str, int]:
    """Nightly: warn owners, then return to the pool the customers past their pool's
    no-interaction / no-purchase limit (customers.pool). Idempotent."""
    from customers.pool import AUTO_RETURN_JOB_NAME, pool_return_due

    return run_job(AUTO_RETURN_JOB_NAME, pool_return_due)
