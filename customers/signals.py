"""Signals other apps listen to (customers does not import them)."""

from django.dispatch import Signal

# Sent by customer_create() after the customer is saved; kwargs: customer, user.
# The sales app assigns new leads (prospects without an owner) when it hears it.
customer_created = Signal()

# Sent by customer_mark_verified(); kwargs: customer, user. Interactions closes the open
# "verify details" task when it hears it.
customer_verified = Signal()

# Sent by customer_update() after a person's edit (form or API) is saved; kwargs: customer,
# user. Webhooks (customer.updated) listen.
customer_updated = Signal()

# Sent after changes to customers saved other than through customer_update(): bulk actions,
# merges (the survivor), the pool (claim, release, return, assignment), import updates;
# kwargs: customer_ids (list), user (or None for a job). Webhooks (customer.updated) listen.
customers_updated = Signal()
