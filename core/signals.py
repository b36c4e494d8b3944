from django.contrib.auth.models import Group, Permission

from core.roles import sync_role_permissions


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Runs once per migrated app; cheap (a handful of queries) and idempotent.
    sync_role_permissions(Group, Permission)
