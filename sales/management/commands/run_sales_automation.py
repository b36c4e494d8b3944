from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from sales.services import leads_assign_unowned, stale_opportunity_reminders


class Command(BaseCommand):
    help = "Run the sales automation rules now: stale-opportunity reminders and lead assignment."

    def add_arguments(self, parser):
        parser.add_argument(
            "--lead-days", type=int, default=1, help="Assign unowned prospects created within this many days."
        )

    def handle(self, *args, lead_days: int, **options):
        tasks = stale_opportunity_reminders()
        leads = leads_assign_unowned(since=timezone.now() - timedelta(days=lead_days))
        self.stdout.write(f"Created {tasks} reminder tasks; assigned {leads} leads.")
