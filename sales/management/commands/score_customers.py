from django.core.management.base import BaseCommand

from core.jobs import run_job
from sales.scoring import customers_score


class Command(BaseCommand):
    help = "Score customers now: RFM scores, value tiers and ABC classes (the nightly job)."

    def handle(self, *args, **options):
        counts = run_job("score_customers", customers_score)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
