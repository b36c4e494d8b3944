from celery import shared_task

from customers.services import customers_purge_expired


@shared_task
def purge_expired_customers() -> int:
    """Nightly: delete for good what stayed in the recycle bin past its retention."""
    return customers_purge_expired()
