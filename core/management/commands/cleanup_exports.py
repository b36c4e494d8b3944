from django.core.management.base import BaseCommand

from core.exports import exports_cleanup
from core.jobs import run_job


class Command(BaseCommand):
    help = "Delete background export files and their jobs older than EXPORT_KEEP_DAYS."

    def handle(self, *args, **options):
        counts = run_job("cleanup_exports", exports_cleanup)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
