from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = _("Interactions")

    def ready(self) -> None:
        # Plug into the customer page, My workspace and the exports without those importing this app.
        from core.exports import register_exporter
        from core.workspace import WorkspacePanel, register_workspace_panel
        from customers.panels import CustomerPanel, register_customer_panel
        from customers.privacy import PrivacySource, register_privacy_source
        from customers.signals import customer_verified
        from customers.timeline import register_timeline_source
        from interactions import exports, jobs, panels, privacy, selectors

        customer_verified.connect(jobs.close_verify_tasks, dispatch_uid="interactions.close_verify_tasks")

        register_exporter(exports.INTERACTION_EXPORTER)
        register_exporter(exports.TICKET_EXPORTER)

        register_privacy_source(
            PrivacySource(
                name="interactions",
                export=privacy.export,
                erase=privacy.erase,
                recent_activity=privacy.recent_activity,
                order=10,
            )
        )
        register_timeline_source("interaction", selectors.interaction_entries, _("Interactions"))
        register_timeline_source("task", selectors.task_entries, _("Tasks"))
        register_timeline_source("ticket", selectors.ticket_entries, _("Tickets"))
        register_timeline_source("followup", selectors.followup_entries, _("Follow-up escalation"))
        register_customer_panel(
            CustomerPanel(
                name="work",
                template="interactions/partials/customer_panel.html",
                context=panels.work_panel,
                order=10,
            )
        )
        register_workspace_panel(
            WorkspacePanel(
                name="today",
                template="interactions/partials/workspace_panel.html",
                context=panels.workspace_panel,
            )
        )
