"""Signal handlers of core: role sync after migrate, and the audit log of logins and of
access changes.

Access changes are recorded here, on the models, rather than in views: roles, teams and
permissions are edited in the Django admin, the shell and management commands, and only the
model signals see all of them. The actor and IP come from the current request
(core.audit.current_request, set by AuditRequestMiddleware); outside a request there is no
actor. Not seen: QuerySet.update() and bulk deletes, which send no signals (no code of the
project changes access that way).
"""

import functools
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission

from core.roles import sync_role_permissions

# User fields whose change is an access change of its own ("user_change" entries).
ACCOUNT_FLAGS = ("is_active", "is_staff", "is_superuser")


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Runs once per migrated app; cheap (a handful of queries) and idempotent.
    sync_role_permissions(Group, Permission)


# --- logins and lockouts ---------------------------------------------------------------------------------


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


def audit_lockout(sender, request, username, ip_address, **kwargs) -> None:
    """django-axes locked a username + IP out. Axes signals every failure from the limit on
    (each failure while locked extends the lockout); the log gets one entry per lockout, at the
    failure that reaches the limit. The account is named only if it exists."""
    from django.conf import settings

    from core.audit import audit_log
    from core.models import AuditLog, User

    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    user = User.objects.filter(username=username).first() if username else None
    audit_log(
        actor=None,
        action=AuditLog.Action.ACCOUNT_LOCKED,
        obj=user,
        request=request,
        username=str(username or "")[:150],
        failures=failures,
        cooloff_minutes=_cooloff_minutes(),
    )


def audit_unlock(sender, instance, **kwargs) -> None:
    """A lockout still in force was lifted: an admin deleted the access attempt (axes admin,
    `axes_reset*` commands). Attempts deleted below the limit, or after their lockout ran
    out (axes cleans those up), are not unlocks."""
    from django.conf import settings
    from django.utils import timezone

    from core.audit import audit_change
    from core.models import AuditLog, User

    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return
    cooloff = settings.AXES_COOLOFF_TIME
    if cooloff is not None and instance.attempt_time <= timezone.now() - cooloff:
        return
    user = User.objects.filter(username=instance.username).first() if instance.username else None
    audit_change(
        action=AuditLog.Action.ACCOUNT_UNLOCKED,
        obj=user,
        username=str(instance.username or "")[:150],
        locked_ip=instance.ip_address,
    )


def _cooloff_minutes() -> int | None:
    from django.conf import settings

    cooloff = settings.AXES_COOLOFF_TIME
    return int(cooloff.total_seconds() // 60) if cooloff else None


# --- users: created, deleted, team and account flags ---------------------------------------


def user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Remember the stored team and flags, to compare after the save. Skipped for saves
    that cannot touch them (update_fields=["last_login"] on every login)."""
    instance._audit_before = None
    if raw or instance._state.adding or instance.pk is None:
        return
    tracked = {"team", "team_id", *ACCOUNT_FLAGS}
    if update_fields is not None and not tracked & set(update_fields):
        return
    instance._audit_before = (
        sender._base_manager.filter(pk=instance.pk).values("team_id", "team__name", *ACCOUNT_FLAGS).first()
    )


def user_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    from core.audit import audit_change
    from core.models import AuditLog

    if raw:
        return
    if created:
        audit_change(
            action=AuditLog.Action.USER_CREATE,
            obj=instance,
            username=instance.username,
            team=_team_name(instance),
            **{flag: getattr(instance, flag) for flag in ACCOUNT_FLAGS},
        )
        return
    before = instance.__dict__.pop("_audit_before", None)
    if not before:
        return
    if before["team_id"] != instance.team_id:
        audit_change(
            action=AuditLog.Action.TEAM_CHANGE,
            obj=instance,
            field="team",
            old=before["team__name"],
            new=_team_name(instance),
        )
    for flag in ACCOUNT_FLAGS:
        if before[flag] != getattr(instance, flag):
            audit_change(
                action=AuditLog.Action.USER_CHANGE,
                obj=instance,
                field=flag,
                old=before[flag],
                new=getattr(instance, flag),
            )


def user_post_delete(sender, instance, **kwargs) -> None:
    from core.audit import audit_change
    from core.models import AuditLog

    audit_change(action=AuditLog.Action.DELETE, obj=instance, username=instance.username)


def _team_name(user) -> str | None:
    return user.team.name if user.team_id else None


# --- many-to-many access: roles, team managers, permissions --------------------------------


@dataclass(frozen=True)
class M2MAudit:
    """How one many-to-many relation is audited: which model declares it (`owner`, the
    record the entry is about), its field name, the entry's action, how a related object is
    named, and whether the whole list before and after goes in the entry (short lists: roles,
    managers) or only what was added or removed (permissions: a role has a hundred)."""

    owner: type
    field: str
    action: str
    full_lists: bool

    def related_queryset(self, related_model, pks):
        qs = related_model._default_manager.filter(pk__in=pks)
        return qs.select_related("content_type") if related_model is Permission else qs

    @staticmethod
    def label(obj) -> str:
        if isinstance(obj, Permission):
            return f"{obj.content_type.app_label}.{obj.codename}"
        if isinstance(obj, Group):
            return obj.name
        return obj.get_username() if hasattr(obj, "get_username") else str(obj)

    def current_labels(self, owner_obj) -> list[str]:
        qs = getattr(owner_obj, self.field).all()
        return sorted(self.label(o) for o in qs)


@functools.cache
def m2m_audits() -> dict[type, M2MAudit]:
    """Through model → how its changes are audited."""
    from core.models import AuditLog, Team, User

    return {
        User.groups.through: M2MAudit(User, "groups", AuditLog.Action.ROLE_CHANGE, full_lists=True),
        Team.managers.through: M2MAudit(Team, "managers", AuditLog.Action.TEAM_CHANGE, full_lists=True),
        Group.permissions.through: M2MAudit(
            Group, "permissions", AuditLog.Action.PERMISSION_CHANGE, full_lists=False
        ),
        User.user_permissions.through: M2MAudit(
            User, "user_permissions", AuditLog.Action.PERMISSION_CHANGE, full_lists=False
        ),
    }


def access_m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """One entry per record whose relation changed (the user for roles, the team for managers,
    the group for its permissions), from either side of the relation (user.groups.add(g) and
    group.user_set.add(u) alike)."""
    from core.audit import audit_change

    spec = m2m_audits()[sender]
    if action == "pre_clear":
        # post_clear is not told what went: note it now.
        if reverse:
            instance._audit_cleared = set(
                spec.owner._default_manager.filter(**{spec.field: instance}).values_list("pk", flat=True)
            )
        else:
            instance._audit_cleared = set(getattr(instance, spec.field).values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop("_audit_cleared", set())
    if not pk_set:
        return
    if reverse:
        owners = list(spec.owner._default_manager.filter(pk__in=pk_set))
        changed = [spec.label(instance)]
    else:
        owners = [instance]
        changed = sorted(spec.label(o) for o in spec.related_queryset(model, pk_set))
    key = "added" if action == "post_add" else "removed"
    for owner in owners:
        details = {key: changed}
        if spec.full_lists:
            new = spec.current_labels(owner)
            old = sorted(set(new) - set(changed)) if key == "added" else sorted(set(new) | set(changed))
            details.update(old=old, new=new)
        audit_change(action=spec.action, obj=owner, field=spec.field, **details)
