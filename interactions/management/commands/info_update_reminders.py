from django.core.management.base import BaseCommand

from core.jobs import run_job
from interactions.jobs import info_update_reminders


class Command(BaseCommand):
    help = "Create 'verify details' tasks for customers whose information is due for re-verification."

    def handle(self, *args, **options):
        counts = run_job("info_update_reminders", info_update_reminders)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
