from django.core.management.base import BaseCommand

from core.jobs import run_job
from customers.pool import AUTO_RETURN_JOB_NAME, pool_return_due


class Command(BaseCommand):
    help = (
        "Warn owners and return to the customer pool the customers without interaction or purchase "
        "for longer than their pool allows (the same job as the nightly Celery task)."
    )

    def handle(self, *args, **options):
        counts = run_job(AUTO_RETURN_JOB_NAME, pool_return_due)
        self.stdout.write(f"Returned {counts['returned']} customers, warned {counts['warned']} owners.")
