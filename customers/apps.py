from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from core.exports import register_exporter
        from core.importing import register

        # Registers the customers app's own privacy source (customer row, contacts, history...).
        from customers import privacy  # noqa: F401
        from customers.exports import EXPORTER
        from customers.imports import CustomerImporter

        register(CustomerImporter())
        register_exporter(EXPORTER)

        # Webhooks (core/webhooks.py) for the customer events.
        from customers.api import on_customer_created, on_customer_updated
        from customers.signals import customer_created, customer_updated

        customer_created.connect(on_customer_created, dispatch_uid="customers.webhook_created")
        customer_updated.connect(on_customer_updated, dispatch_uid="customers.webhook_updated")
