from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from core.custom_fields import register_target
        from core.exports import register_exporter
        from core.importing import register

        # Registers the customers app's own privacy source (customer row, contacts, history...).
        from customers import privacy  # noqa: F401
        from customers.exports import EXPORTER
        from customers.imports import CustomerImporter
        from customers.models import Contact, Customer

        register_target("customer", Customer, sensitive_permission="customers.view_sensitive")
        register_target("contact", Contact, sensitive_permission="customers.view_sensitive")
        register(CustomerImporter())
        register_exporter(EXPORTER)

        # Webhooks (core/webhooks.py) for the customer events.
        from customers.api import on_customer_created, on_customer_updated, on_customers_updated
        from customers.signals import customer_created, customer_updated, customers_updated

        customer_created.connect(on_customer_created, dispatch_uid="customers.webhook_created")
        customer_updated.connect(on_customer_updated, dispatch_uid="customers.webhook_updated")
        customers_updated.connect(on_customers_updated, dispatch_uid="customers.webhook_bulk_updated")
