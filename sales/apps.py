from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        # Plug into the customer page, the exports and the imports, and listen for new leads,
        # without customers or core importing us.
        from core.custom_fields import register_target
        from core.exports import register_exporter
        from core.importing import register
        from customers.panels import CustomerPanel, register_customer_panel
        from customers.privacy import PrivacySource, register_privacy_source
        from customers.signals import customer_created
        from customers.timeline import register_timeline_source
        from sales import exports, panels, privacy, selectors
        from sales.imports import OrderImporter
        from sales.models import Opportunity
        from sales.signals import assign_new_lead

        register_target("opportunity", Opportunity, sensitive_permission="customers.view_sensitive")
        register(OrderImporter())
        customer_created.connect(assign_new_lead, dispatch_uid="sales.assign_new_lead")
        # Webhooks (core/webhooks.py) for the sales events.
        from sales.api import on_opportunity_won, on_order_created
        from sales.signals import opportunity_won, order_created

        order_created.connect(on_order_created, dispatch_uid="sales.webhook_order_created")
        opportunity_won.connect(on_opportunity_won, dispatch_uid="sales.webhook_opportunity_won")
        register_exporter(exports.ORDER_EXPORTER)
        register_exporter(exports.OPPORTUNITY_EXPORTER)
        register_privacy_source(
            PrivacySource(
                name="sales",
                export=privacy.export,
                erase=privacy.erase,
                recent_activity=privacy.recent_activity,
                order=20,
            )
        )
        register_timeline_source("order", selectors.order_entries, _("Orders"))
        register_timeline_source("opportunity", selectors.opportunity_entries, _("Opportunities"))
        register_customer_panel(
            CustomerPanel(
                name="sales",
                template="sales/partials/customer_panel.html",
                context=panels.sales_panel,
                order=20,
            )
        )
