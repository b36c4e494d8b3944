from datetime import date

from django.core.management.base import BaseCommand

from core.jobs import run_job
from marketing.services import care_campaigns_run


class Command(BaseCommand):
    help = (
        "Queue and send the active care campaigns' messages for today's birthdays, recent first "
        "orders and churn warnings (or for --date, to catch up a day the job did not run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            dest="today",
            type=date.fromisoformat,
            default=None,
            help="Run as if today were this day.",
        )

    def handle(self, *args, today: date | None, **options):
        counts = run_job("care_campaigns", lambda: care_campaigns_run(today=today))
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
