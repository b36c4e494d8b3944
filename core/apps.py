from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Accounts and teams")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from core.signals import audit_login, audit_login_failed, audit_logout, sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.sync_roles")
        # Logins, logouts and failed logins go to the audit log.
        user_logged_in.connect(audit_login, dispatch_uid="core.audit_login")
        user_logged_out.connect(audit_logout, dispatch_uid="core.audit_logout")
        user_login_failed.connect(audit_login_failed, dispatch_uid="core.audit_login_failed")
