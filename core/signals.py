from django.contrib.auth.models import Group, Permission

from core.roles import sync_role_permissions


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Runs once per migrated app; cheap (a handful of queries) and idempotent.
    sync_role_permissions(Group, Permission)


def audit_login(sender, request, user, **kwargs) -> None:
    from core.audit import audit_log
    from core.models import AuditLog

    audit_log(actor=user, action=AuditLog.Action.LOGIN, obj=user, request=request)


def audit_logout(sender, request, user, **kwargs) -> None:
    from core.audit import audit_log
    from core.models import AuditLog

    if user is not None:
        audit_log(actor=user, action=AuditLog.Action.LOGOUT, obj=user, request=request)


def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """Record the username tried (never the password) and where from."""
    from core.audit import audit_log
    from core.models import AuditLog

    username = str(credentials.get("username", ""))[:150]
    audit_log(actor=None, action=AuditLog.Action.LOGIN_FAILED, request=request, username=username)
