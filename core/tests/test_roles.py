import pytest
from django.contrib.auth.models import Group

from core.models import Role
from core.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def _perms(group: Group) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_each_role_group_exists():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


@pytest.mark.parametrize("role", Role.values)
def test_each_role_has_exactly_its_declared_permissions(role):
    assert _perms(Group.objects.get(name=role)) == set(ROLE_PERMISSIONS[role])


def test_only_admins_may_manage_users_and_teams():
    for role in Role.values:
        perms = _perms(Group.objects.get(name=role))
        may_manage = {"core.change_user", "core.add_team", "auth.change_group"} <= perms
        assert may_manage == (role == Role.ADMIN), role


def test_a_role_member_gets_the_groups_permissions(rep, manager):
    assert rep.has_perm("core.view_team")
    assert not rep.has_perm("core.view_user")
    assert manager.has_perm("core.view_user")
    assert not manager.has_perm("core.change_user")


def test_role_labels_are_translated(rep):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert rep.role_labels == ["销售"]
    with translation.override("en"):
        assert rep.role_labels == ["Sales rep"]


def test_pg_trgm_is_installed():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == ("pg_trgm",)
