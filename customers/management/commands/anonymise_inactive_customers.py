from django.core.management.base import BaseCommand

from core.jobs import run_job
from customers.privacy import RETENTION_JOB_NAME, anonymise_inactive_customers


class Command(BaseCommand):
    help = (
        "Anonymise the customers with no activity for PERSONAL_DATA_RETENTION_DAYS (the nightly "
        "retention job). --dry-run only counts them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count the customers, change nothing.")

    def handle(self, *args, **options):
        if options["dry_run"]:
            counts = anonymise_inactive_customers(dry_run=True)
        else:
            counts = run_job(RETENTION_JOB_NAME, anonymise_inactive_customers)
        if not counts.get("retention_days"):
            self.stdout.write("PERSONAL_DATA_RETENTION_DAYS is 0: retention is off, nothing to do.")
            return
        self.stdout.write(" ".join(f"{key}={value}" for key, value in counts.items()))
