"""Information-update reminders (资料更新提醒): customers whose details are due for
re-verification get one "verify details" task for their owner."""

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions.models import Task
from interactions.services import task_complete, task_create_for_rule

RULE = "info_update"


def _rule_key(customer: Customer) -> str:
    # Bound to the last verification: while that stays the same (the task is open, or was
    # closed without verifying) no second task is made; verifying starts a new period.
    verified = customer.info_verified_at.strftime("%Y%m%d%H%M%S") if customer.info_verified_at else "never"
    return f"verify:{customer.pk}:{verified}"


def info_update_reminders(*, now: datetime | None = None, batch_size: int = 1000) -> dict[str, int]:
    """Idempotent; reads customers in batches by primary key (bounded memory)."""
    now = now or timezone.now()
    due_at = now + timezone.timedelta(days=settings.INFO_UPDATE_TASK_DUE_DAYS)
    # Anonymised customers have no details left to verify.
    stale = (
        Customer.objects.active()
        .stale(now)
        .filter(owner__isnull=False, anonymised_at__isnull=True)
        .select_related("owner")
    )
    counts = {"checked": 0, "tasks": 0}
    last_pk = 0
    while True:
        batch = list(stale.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            return counts
        last_pk = batch[-1].pk
        for customer in batch:
            counts["checked"] += 1
            with translation.override(customer.owner.language or settings.LANGUAGE_CODE):
                title = _("Verify the details of %(name)s") % {"name": customer.name}
            _task, created = task_create_for_rule(
                rule=RULE,
                rule_key=_rule_key(customer),
                assignee=customer.owner,
                title=title,
                due_at=due_at,
                customer=customer,
                notes=reverse("customers:detail", args=[customer.pk]),
            )
            counts["tasks"] += created


def close_verify_tasks(sender, customer, user, **kwargs) -> None:
    """Verifying on the customer page completes the open "verify details" task."""
    for task in Task.objects.open().filter(customer=customer, rule=RULE):
        task_complete(task=task, user=user)
