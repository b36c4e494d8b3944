"""What this app adds to the customer page: the quick "log interaction" form with an
optional follow-up task, and the customer's open tasks and tickets."""

from datetime import datetime, time

from django.utils import timezone

from interactions.forms import FollowUpForm, InteractionForm
from interactions.models import Task, Ticket


def work_panel(request, customer) -> dict:
    """Two bounded queries: open tasks and open tickets of this customer (plus contacts for
    the form's contact choice)."""
    user = request.user
    return {
        "customer": customer,
        "can_log": user.has_perm("interactions.add_interaction"),
        "can_add_task": user.has_perm("interactions.add_task"),
        "can_add_ticket": user.has_perm("interactions.add_ticket"),
        "form": InteractionForm(customer=customer),
        "follow_up": FollowUpForm(
            initial={
                "follow_up_due": (timezone.localtime() + timezone.timedelta(days=3)).replace(
                    second=0, microsecond=0
                )
            }
        ),
        "open_tasks": list(
            Task.objects.open().filter(customer=customer).select_related("assignee").order_by("due_at")[:10]
        ),
        "open_tickets": list(
            Ticket.objects.unresolved()
            .filter(customer=customer)
            .select_related("assignee")
            .order_by("-created_at")[:10]
        ),
        "now": timezone.now(),
    }


def workspace_panel(request) -> dict | None:
    """My workspace: what is due today (or overdue) and the open tickets assigned to me.
    Two bounded queries."""
    user = request.user
    if not user.has_perm("interactions.view_task"):
        return None
    end_of_today = timezone.make_aware(datetime.combine(timezone.localdate(), time.max))
    return {
        "due_tasks": list(
            Task.objects.open()
            .filter(assignee=user, due_at__lte=end_of_today)
            .select_related("customer")
            .order_by("due_at")[:10]
        ),
        "my_tickets": list(
            Ticket.objects.unresolved()
            .filter(assignee=user)
            .select_related("customer")
            .order_by("sla_due_at")[:10]
        ),
        "now": timezone.now(),
    }
