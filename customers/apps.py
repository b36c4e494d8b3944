from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from core.exports import register_exporter
        from customers.exports import EXPORTER

        register_exporter(EXPORTER)
