from django.core.management.base import BaseCommand

from core.jobs import run_job
from marketing.services import campaigns_start_due


class Command(BaseCommand):
    help = "Start sending the scheduled campaigns whose time has come."

    def handle(self, *args, **options):
        counts = run_job("start_due_campaigns", lambda: {"started": campaigns_start_due()})
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
