from django.db import transaction


def assign_new_lead(sender, customer, user, **kwargs) -> None:
    """A prospect created without an owner is a new lead: assign it once the customer is
    committed (in the background when a broker is configured)."""
    if customer.owner_id is None and customer.lifecycle_stage == "prospect":
        from sales.tasks import assign_lead

        transaction.on_commit(lambda: assign_lead.delay(customer.pk))
