from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from sales.services import leads_assign_unowned, stale_opportunity_reminders


@shared_task
def run_sales_automation() -> dict[str, int]:
    """Every 15 minutes (beat): reminders for quiet opportunities, and assignment of any new
    lead that arrived without an owner and was not assigned on creation (e.g. bulk imports)."""
    return {
        "stale_opportunity_tasks": stale_opportunity_reminders(),
        "leads_assigned": leads_assign_unowned(since=timezone.now() - timedelta(days=1)),
    }


@shared_task
def assign_lead(customer_id: int) -> bool:
    from customers.models import Customer
    from sales.services import lead_assign

    customer = Customer.objects.filter(pk=customer_id).first()
    return customer is not None and lead_assign(customer=customer) is not None


@shared_task
def churn_warnings() -> dict[str, int]:
    """Nightly (beat): churn risk scores, warnings with win-back tasks, churned customers.
    Idempotent; recorded as a JobRun."""
    from core.jobs import run_job
    from sales.churn import churn_warnings as job

    return run_job("churn_warnings", job)


@shared_task
def score_customers() -> dict[str, int]:
    """Nightly (beat): RFM scores, value tiers and ABC classes (客户分层). Idempotent;
    recorded as a JobRun."""
    from core.jobs import run_job
    from sales.scoring import customers_score

    return run_job("score_customers", customers_score)
