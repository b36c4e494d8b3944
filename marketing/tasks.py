"""Thin Celery adapters for marketing (services do the work)."""

from celery import shared_task

from core.jobs import run_job
from marketing import services


@shared_task(bind=True, max_retries=5, default_retry_delay=30, acks_late=True)
def send_campaign_batch(self, campaign_id: int) -> dict:
    """One rate-limited batch; re-enqueues itself (one batch per CAMPAIGN_RATE_PER_MINUTE
    slot) until no recipient is queued. Retrying is safe: claimed recipients are never sent
    again (services.campaign_send_batch)."""
    try:
        result = services.campaign_send_batch(campaign_id=campaign_id)
    except Exception as exc:
        raise self.retry(exc=exc) from exc
    if result.remaining:
        from django.conf import settings

        delay = 60.0 * services.campaign_batch_size() / settings.CAMPAIGN_RATE_PER_MINUTE
        send_campaign_batch.apply_async((campaign_id,), countdown=delay)
    return {
        "sent": result.sent,
        "failed": result.failed,
        "skipped": result.skipped,
        "remaining": result.remaining,
    }


@shared_task(bind=True, max_retries=5, default_retry_delay=30, acks_late=True)
def start_campaign(self, campaign_id: int) -> dict:
    """Snapshot a campaign that started sending, then send its first batch."""
    from marketing.models import Campaign

    campaign = Campaign.objects.select_related("segment", "created_by").get(pk=campaign_id)
    if campaign.status != Campaign.Status.SENDING:
        return {"recipients": 0}
    try:
        services.campaign_snapshot_recipients(campaign=campaign)
    except Exception as exc:
        raise self.retry(exc=exc) from exc
    send_campaign_batch.delay(campaign_id)
    campaign.refresh_from_db(fields=["total"])
    return {"recipients": campaign.total}


@shared_task
def start_due_campaigns() -> dict:
    return run_job("start_due_campaigns", lambda: {"started": services.campaigns_start_due()})


@shared_task
def care_campaigns() -> dict:
    return run_job("care_campaigns", services.care_campaigns_run)
