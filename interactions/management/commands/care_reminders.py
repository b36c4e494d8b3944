from datetime import date

from django.core.management.base import BaseCommand

from core.jobs import run_job
from interactions.care import care_reminders


class Command(BaseCommand):
    help = (
        "Create greeting tasks for the birthdays and customer anniversaries CARE_REMINDER_DAYS_AHEAD "
        "days from today (or from --date, to catch up a day the job did not run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            dest="today",
            type=date.fromisoformat,
            default=None,
            help="Run as if today were this day (YYYY-MM-DD).",
        )

    def handle(self, *args, today: date | None, **options):
        counts = run_job("care_reminders", lambda: care_reminders(today=today))
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
