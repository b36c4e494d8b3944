"""Access changes (roles, teams, team managers, permissions, account flags, new and deleted
users) are written to the audit log with who made them, from where, and old → new."""

import pytest
from django import forms
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory

from core.audit import request_context
from core.models import AuditLog, Role, Team, User
from core.roles import sync_role_permissions
from core.tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def admin_form_data(response) -> dict:
    """The POST data of an admin change form as it was rendered (the initial values), so a
    test changes only what it means to."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.MultiWidget):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    return data


def entries(action=None, **filters):
    qs = AuditLog.objects.order_by("at", "id")
    if action:
        qs = qs.filter(action=action)
    return list(qs.filter(**filters))


def test_changing_roles_in_the_admin_records_who_old_and_new(client, admin_user, rep):
    client.force_login(admin_user)
    url = f"/admin/core/user/{rep.pk}/change/"
    data = admin_form_data(client.get(url))
    data["groups"] = [str(Group.objects.get(name=Role.SALES_MANAGER).pk)]
    response = client.post(url, data, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302, response.context["adminform"].form.errors

    rep.refresh_from_db()
    assert [g.name for g in rep.groups.all()] == ["sales_manager"]
    changes = entries(AuditLog.Action.ROLE_CHANGE, object_id=str(rep.pk), actor=admin_user)
    # set() removes what went, then adds what came: two entries, each with old → new.
    assert [(e.field, e.details, e.ip_address) for e in changes] == [
        ("groups", {"removed": ["sales_rep"], "old": ["sales_rep"], "new": []}, "10.1.2.3"),
        ("groups", {"added": ["sales_manager"], "old": [], "new": ["sales_manager"]}, "10.1.2.3"),
    ]
    assert changes[0].object_type == "core.user" and changes[0].object_repr == str(rep)


def test_moving_a_user_to_another_team_and_flipping_flags_in_the_admin(client, admin_user, rep, other_team):
    client.force_login(admin_user)
    url = f"/admin/core/user/{rep.pk}/change/"
    data = admin_form_data(client.get(url))
    data["team"] = str(other_team.pk)
    data["is_staff"] = "on"
    data.pop("is_active")
    assert client.post(url, data).status_code == 302

    team_change = entries(AuditLog.Action.TEAM_CHANGE, object_id=str(rep.pk))
    assert [(e.actor, e.field, e.details) for e in team_change] == [
        (admin_user, "team", {"old": "华东销售部", "new": "华北销售部"})
    ]
    flags = entries(AuditLog.Action.USER_CHANGE, object_id=str(rep.pk))
    assert sorted((e.actor, e.field, e.details["old"], e.details["new"]) for e in flags) == [
        (admin_user, "is_active", True, False),
        (admin_user, "is_staff", False, True),
    ]
    # Nothing else was logged as changed: the form saved every field, most unchanged.
    assert not entries(AuditLog.Action.ROLE_CHANGE, object_id=str(rep.pk), actor=admin_user)


def test_creating_a_user_in_the_admin_is_recorded_with_its_roles(client, admin_user, team):
    client.force_login(admin_user)
    response = client.post(
        "/admin/core/user/add/",
        {
            "username": "newrep",
            "password1": "Correct-Horse-42",
            "password2": "Correct-Horse-42",
            "usable_password": "true",
            "first_name": "小明",
            "last_name": "李",
            "email": "newrep@example.com",
            "team": str(team.pk),
            "groups": [str(Group.objects.get(name=Role.SALES_REP).pk)],
        },
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="newrep")
    created = entries(AuditLog.Action.USER_CREATE, object_id=str(user.pk))
    assert [(e.actor, e.ip_address, e.details) for e in created] == [
        (
            admin_user,
            "10.1.2.3",
            {
                "username": "newrep",
                "team": "华东销售部",
                "is_active": True,
                "is_staff": False,
                "is_superuser": False,
            },
        )
    ]
    roles = entries(AuditLog.Action.ROLE_CHANGE, object_id=str(user.pk))
    assert [(e.actor, e.details) for e in roles] == [
        (admin_user, {"added": ["sales_rep"], "old": [], "new": ["sales_rep"]})
    ]
    assert "Correct-Horse-42" not in repr([e.details for e in entries()])


def test_changing_a_teams_managers_in_the_admin(client, admin_user, team, manager, teammate):
    client.force_login(admin_user)
    url = f"/admin/core/team/{team.pk}/change/"
    data = admin_form_data(client.get(url))
    data["managers"] = [str(teammate.pk)]
    assert client.post(url, data).status_code == 302

    changes = entries(
        AuditLog.Action.TEAM_CHANGE, object_type="core.team", object_id=str(team.pk), actor=admin_user
    )
    assert [(e.actor, e.field, e.details) for e in changes] == [
        (admin_user, "managers", {"removed": ["manager"], "old": ["manager"], "new": []}),
        (admin_user, "managers", {"added": ["teammate"], "old": [], "new": ["teammate"]}),
    ]


def test_changing_a_roles_permissions_in_the_admin(client, admin_user):
    group = Group.objects.get(name=Role.CUSTOMER_SERVICE)
    export = Permission.objects.get(codename="export_customer")
    client.force_login(admin_user)
    url = f"/admin/auth/group/{group.pk}/change/"
    data = admin_form_data(client.get(url))
    data["permissions"] = [*data["permissions"], str(export.pk)]
    assert client.post(url, data).status_code == 302

    changes = entries(AuditLog.Action.PERMISSION_CHANGE, object_type="auth.group")
    assert [(e.actor, e.object_repr, e.field, e.details) for e in changes] == [
        (admin_user, "customer_service", "permissions", {"added": ["customers.export_customer"]})
    ]


def test_changes_from_the_other_side_of_a_relation_are_recorded_per_user(rep, teammate):
    managers = Group.objects.get(name=Role.SALES_MANAGER)
    managers.user_set.add(rep, teammate)
    changes = entries(AuditLog.Action.ROLE_CHANGE, details__added=["sales_manager"])
    assert sorted(e.object_repr for e in changes) == sorted([str(rep), str(teammate)])
    assert changes[0].details["new"] == ["sales_manager", "sales_rep"]
    assert all(e.actor is None and e.ip_address is None for e in changes)  # no request: no actor

    teammate.managed_teams.add(TeamFactory(name="华南销售部"))
    assert entries(AuditLog.Action.TEAM_CHANGE, object_repr="华南销售部")[0].details == {
        "added": ["teammate"],
        "old": [],
        "new": ["teammate"],
    }


def test_clearing_roles_and_direct_permissions_is_recorded(rep):
    rep.user_permissions.add(Permission.objects.get(codename="export_customer"))
    rep.groups.clear()
    rep.user_permissions.clear()
    assert entries(AuditLog.Action.ROLE_CHANGE, object_id=str(rep.pk), details__removed=["sales_rep"])[
        -1
    ].details == {"removed": ["sales_rep"], "old": ["sales_rep"], "new": []}
    perms = entries(AuditLog.Action.PERMISSION_CHANGE, object_type="core.user", object_id=str(rep.pk))
    assert [e.details for e in perms] == [
        {"added": ["customers.export_customer"]},
        {"removed": ["customers.export_customer"]},
    ]


def test_a_change_made_during_a_request_names_the_requests_user(rep, admin_user):
    request = RequestFactory().post("/somewhere/", REMOTE_ADDR="192.0.2.9")
    request.user = admin_user
    with request_context(request):
        rep.is_active = False
        rep.save()
    rep.is_active = True
    rep.save()
    changes = entries(AuditLog.Action.USER_CHANGE, object_id=str(rep.pk))
    assert [(e.actor, e.ip_address, e.details) for e in changes] == [
        (admin_user, "192.0.2.9", {"old": True, "new": False}),
        (None, None, {"old": False, "new": True}),
    ]


def test_logging_in_and_unrelated_saves_write_no_access_entries(client, rep):
    from django.conf import settings

    before = AuditLog.objects.count()
    client.post("/accounts/login/", {"username": "rep", "password": settings.DEMO_PASSWORD})
    rep.refresh_from_db()
    rep.first_name = "小红"
    rep.save()
    rep.language = "en"
    rep.save(update_fields=["language"])
    assert [e.action for e in AuditLog.objects.order_by("id")[before:]] == ["login"]


def test_deleting_a_user_is_recorded(admin_user):
    user = UserFactory(username="leaver")
    pk = user.pk
    request = RequestFactory().post("/admin/")
    request.user = admin_user
    with request_context(request):
        user.delete()
    assert [(e.actor, e.details) for e in entries(AuditLog.Action.DELETE, object_type="core.user")] == [
        (admin_user, {"username": "leaver"})
    ]
    assert entries(AuditLog.Action.DELETE, object_id=str(pk))


def test_the_role_sync_after_migrate_is_not_an_audited_change():
    group = Group.objects.get(name=Role.SALES_REP)
    perm = Permission.objects.get(codename="view_customer", content_type__app_label="customers")
    group.permissions.remove(perm)  # an admin takes it away: recorded
    sync_role_permissions(Group, Permission)  # migrate puts the declared one back: not recorded
    assert group.permissions.filter(pk=perm.pk).exists()
    assert [e.details for e in entries(AuditLog.Action.PERMISSION_CHANGE, object_repr="sales_rep")] == [
        {"removed": ["customers.view_customer"]}
    ]


def test_the_current_request_is_forgotten_after_the_request(client, rep, admin_user, team):
    from core.audit import current_request

    client.force_login(admin_user)
    client.get("/")
    assert current_request() is None
    Team.objects.get(pk=team.pk).managers.add(rep)
    assert entries(AuditLog.Action.TEAM_CHANGE, object_repr=team.name)[-1].actor is None
