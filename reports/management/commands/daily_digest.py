from django.core.management.base import BaseCommand

from core.jobs import run_job
from reports.digest import daily_digest


class Command(BaseCommand):
    help = "Send each staff member today's digest (tasks due and overdue, new churn warnings)."

    def handle(self, *args, **options):
        counts = run_job("daily_digest", daily_digest)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
