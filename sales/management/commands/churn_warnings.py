from django.core.management.base import BaseCommand

from core.jobs import run_job
from sales.churn import churn_warnings


class Command(BaseCommand):
    help = (
        "Score every customer's churn risk now: flag and warn (owner, and managers of VIPs) with a "
        "win-back task, clear flags, move long-flagged customers to churned. Same as the nightly job."
    )

    def handle(self, *args, **options):
        counts = run_job("churn_warnings", churn_warnings)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
