from django.db import transaction
from django.dispatch import Signal

# Sent by order_create() once the order and its lines are saved; kwargs: order, user.
order_created = Signal()
# Sent when an opportunity enters a "won" stage (opportunity_create / opportunity_move);
# kwargs: opportunity, user.
opportunity_won = Signal()


def assign_new_lead(sender, customer, user, **kwargs) -> None:
    """A prospect created without an owner is a new lead: assign it once the customer is
    committed (in the background when a broker is configured)."""
    if customer.owner_id is None and customer.lifecycle_stage == "prospect":
        from sales.tasks import assign_lead

        transaction.on_commit(lambda: assign_lead.delay(customer.pk))
