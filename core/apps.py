from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Accounts and teams")

    def ready(self) -> None:
        from axes.models import AccessAttempt
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

        from core import signals
        from core.models import User

        post_migrate.connect(signals.sync_roles_after_migrate, dispatch_uid="core.sync_roles")
        # Logins, logouts, failed logins, lockouts and unlocks go to the audit log.
        user_logged_in.connect(signals.audit_login, dispatch_uid="core.audit_login")
        # A session of an account with two-factor authentication owes the second step.
        from core.twofactor import mark_session_after_login

        user_logged_in.connect(mark_session_after_login, dispatch_uid="core.two_factor_session")
        user_logged_out.connect(signals.audit_logout, dispatch_uid="core.audit_logout")
        user_login_failed.connect(signals.audit_login_failed, dispatch_uid="core.audit_login_failed")
        user_locked_out.connect(signals.audit_lockout, dispatch_uid="core.audit_lockout")
        post_delete.connect(signals.audit_unlock, sender=AccessAttempt, dispatch_uid="core.audit_unlock")
        # So do access changes: users created, deleted, moved between teams, (de)activated,
        # made staff or superuser; roles, team managers and permissions granted or taken away.
        pre_save.connect(signals.user_pre_save, sender=User, dispatch_uid="core.audit_user_pre_save")
        post_save.connect(signals.user_post_save, sender=User, dispatch_uid="core.audit_user_post_save")
        post_delete.connect(signals.user_post_delete, sender=User, dispatch_uid="core.audit_user_delete")
        from core import custom_fields
        from core.models import CustomField

        post_save.connect(
            custom_fields.clear_cache, sender=CustomField, dispatch_uid="core.customfield_saved"
        )
        post_delete.connect(
            custom_fields.clear_cache, sender=CustomField, dispatch_uid="core.customfield_deleted"
        )
        # Webhooks: the cached list of active endpoints follows every change to them.
        from core.models import WebhookEndpoint
        from core.webhooks import forget_endpoints

        post_save.connect(forget_endpoints, sender=WebhookEndpoint, dispatch_uid="core.webhooks_forget_saved")
        post_delete.connect(
            forget_endpoints, sender=WebhookEndpoint, dispatch_uid="core.webhooks_forget_deleted"
        )
        for through in signals.m2m_audits():
            m2m_changed.connect(
                signals.access_m2m_changed,
                sender=through,
                dispatch_uid=f"core.audit_m2m.{through._meta.label}",
            )
