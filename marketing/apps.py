from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        # Plug into the customer ledger and timeline without customers importing this app.
        from customers.panels import register_list_action
        from customers.privacy import PrivacySource, register_privacy_source
        from customers.timeline import register_timeline_source
        from marketing import privacy, selectors

        register_privacy_source(PrivacySource(name="marketing", export=privacy.export, order=40))

        register_timeline_source("marketing", selectors.campaign_entries, _("Marketing messages"))
        register_list_action("marketing/partials/list_actions.html")
