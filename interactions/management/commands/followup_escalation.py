from django.core.management.base import BaseCommand

from core.jobs import run_job
from interactions.escalation import JOB_NAME, followup_escalation_run


class Command(BaseCommand):
    help = (
        "Follow-up escalation (跟进超时): remind owners of customers without an interaction for a "
        "rule's days, then tell the team's managers and mark the customer high-risk."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the customers due for a reminder or an escalation; change nothing, record no job run.",
        )

    def handle(self, *args, **options):
        if options["dry_run"]:
            counts = followup_escalation_run(dry_run=True)
            self.stdout.write("dry-run " + " ".join(f"{k}={v}" for k, v in counts.items()))
            return
        counts = run_job(JOB_NAME, followup_escalation_run)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
