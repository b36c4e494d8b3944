from django.core.management.base import BaseCommand

from core.jobs import run_job
from reports.services import figures_refresh_due


class Command(BaseCommand):
    help = (
        "Rebuild the dashboard's pre-computed figures: the days from yesterday on and the "
        "snapshots, or everything with --all (what the beat job does every few minutes / at night)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="rebuild every day, not only the recent ones")

    def handle(self, *args, **options):
        counts = run_job("report_figures", lambda: figures_refresh_due(full=options["all"]))
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
