"""Exports of the interaction list and the ticket list: permission, scope, masking, the list's
filters, formula injection, formats, audit, query counts and the background path."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.exports import export_write, get_exporter
from core.models import AuditLog, ExportJob, User
from core.tests.factories import UserFactory
from core.tests.spreadsheets import body, csv_rows, xlsx_rows
from customers.tests.factories import CustomerFactory, make_contact
from interactions.models import Interaction, Priority, Ticket
from interactions.tests.factories import make_interaction, make_ticket

pytestmark = pytest.mark.django_db

MOBILE = "13800138000"
INTERACTIONS_URL = reverse("interactions:interaction_export")
TICKETS_URL = reverse("interactions:ticket_export")
TICKET_HEADER = [
    "ticket number",
    "subject",
    "customer",
    "customer mobile phone",
    "contact",
    "category",
    "priority",
    "status",
    "assignee",
    "opened at",
    "SLA due",
    "SLA breached",
    "resolved at",
    "closed at",
    "customer satisfaction",
]


@pytest.fixture
def english(rep, teammate, manager, other_rep, service, admin_user):
    User.objects.update(language="en")


@pytest.fixture
def customers(rep, teammate, other_rep):
    return {
        "mine": CustomerFactory(name="张三", owner=rep, mobile=MOBILE),
        "teammate": CustomerFactory(name="李四", owner=teammate),
        "other": CustomerFactory(name="王五", owner=other_rep),
    }


@pytest.fixture
def interactions(customers, rep, teammate, other_rep):
    contact = make_contact(customers["mine"], name="张秘书")
    return {
        "mine": make_interaction(
            customers["mine"], rep, summary="电话回访", channel=Interaction.Channel.PHONE, contact=contact
        ),
        "teammate": make_interaction(
            customers["teammate"], teammate, summary="微信沟通", channel=Interaction.Channel.WECHAT
        ),
        "other": make_interaction(customers["other"], other_rep, summary="别队拜访"),
    }


@pytest.fixture
def tickets(customers, rep, teammate, other_rep, service):
    return {
        "mine": make_ticket(customers["mine"], rep, subject="发货延迟", assignee=service),
        "teammate": make_ticket(customers["teammate"], teammate, subject="发票问题", priority=Priority.HIGH),
        "other": make_ticket(customers["other"], other_rep, subject="别队投诉"),
    }


def _with_perms(username: str, *perms: str) -> User:
    user = UserFactory(username=username, language="en")
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)


# --- permission and scope ----------------------------------------------------------------


def test_reps_export_neither_interactions_nor_tickets(client, rep, interactions, tickets):
    client.force_login(rep)
    assert client.get(INTERACTIONS_URL, {"format": "csv"}).status_code == 403
    assert client.get(TICKETS_URL, {"format": "csv"}).status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_customer_service_exports_tickets_but_not_interactions(client, english, service, tickets):
    client.force_login(service)
    assert client.get(INTERACTIONS_URL, {"format": "csv"}).status_code == 403
    response = client.get(TICKETS_URL, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="tickets-')
    header, *rows = csv_rows(response)
    assert header == TICKET_HEADER
    assert {row[1] for row in rows} == {"发货延迟", "发票问题", "别队投诉"}  # service sees all customers


def test_manager_exports_the_teams_interactions_only(client, english, manager, interactions):
    client.force_login(manager)
    header, *rows = xlsx_rows(client.get(INTERACTIONS_URL, {"format": "xlsx"}))
    assert header[:3] == ("when", "customer", "contact")
    by_summary = {row[6]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_summary) == {"电话回访", "微信沟通"}
    mine = by_summary["电话回访"]
    assert mine["contact"] == "张秘书"
    assert mine["channel"] == "Phone call"
    assert mine["direction"] == "Outbound"
    assert mine["type"] == "Follow-up"
    assert mine["logged by"] == str(interactions["mine"].created_by)
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.details["kind"] == "interactions" and entry.details["rows"] == 2
    assert "unmasked" not in entry.details  # no personal-data column


def test_manager_exports_the_teams_tickets_only(client, manager, tickets):
    client.force_login(manager)
    rows = csv_rows(client.get(TICKETS_URL, {"format": "csv"}))
    assert {row[1] for row in rows[1:]} == {"发货延迟", "发票问题"}


# --- masking -------------------------------------------------------------------------------


def test_ticket_customer_phone_is_unmasked_with_view_sensitive(client, service, tickets):
    client.force_login(service)
    rows = csv_rows(client.get(TICKETS_URL, {"format": "csv", "q": "发货延迟"}))
    assert rows[1][TICKET_HEADER.index("customer mobile phone")] == MOBILE
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).details["unmasked"] is True


def test_ticket_customer_phone_is_masked_without_view_sensitive(client, tickets):
    user = _with_perms(
        "exporter", "interactions.view_ticket", "interactions.export_ticket", "customers.view_all_customers"
    )
    client.force_login(user)
    rows = csv_rows(client.get(TICKETS_URL, {"format": "csv"}))
    assert len(rows) == 4
    phones = {row[1]: row[3] for row in rows[1:]}
    assert phones["发货延迟"] == "138****8000"
    assert MOBILE not in str(rows)
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).details["unmasked"] is False


# --- filters and content ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"channel": "wechat"}, {"q": "张三"}, {"kind": "complaint"}, {"staff": "teammate"}]
)
def test_interaction_export_rows_equal_the_list_rows(
    client, manager, interactions, customers, rep, teammate, params
):
    make_interaction(customers["mine"], rep, summary="投诉处理", kind=Interaction.Kind.COMPLAINT)
    make_interaction(
        customers["teammate"], teammate, summary="上门拜访", occurred_at=timezone.now() - timedelta(days=3)
    )
    if params.get("staff") == "teammate":
        params = {"staff": str(teammate.pk)}
    client.force_login(manager)
    listed = [i.summary for i in client.get("/interactions/log/", params).context["page"].object_list]
    rows = csv_rows(client.get(INTERACTIONS_URL, {**params, "format": "csv"}))
    assert [row[6] for row in rows[1:]] == listed
    assert listed


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "new"},
        {"status": ["new", "assigned"]},
        {"priority": "3"},
        {"open_only": "on"},
        {"mine": "on"},
    ],
)
def test_ticket_export_rows_equal_the_list_rows(client, service, tickets, params):
    client.force_login(service)
    listed = [t.pk for t in client.get("/interactions/tickets/", params).context["page"].object_list]
    rows = csv_rows(client.get(TICKETS_URL, {**params, "format": "csv"}))
    assert [int(row[0]) for row in rows[1:]] == listed
    assert listed


def test_ticket_rows_say_whether_the_sla_was_breached(client, english, service, tickets):
    Ticket.objects.filter(pk=tickets["teammate"].pk).update(sla_due_at=timezone.now() - timedelta(hours=1))
    client.force_login(service)
    header, *rows = xlsx_rows(client.get(TICKETS_URL, {"format": "xlsx"}))
    by_number = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_number[tickets["teammate"].pk]["SLA breached"] == "Yes"
    assert by_number[tickets["teammate"].pk]["priority"] == "High"
    assert by_number[tickets["mine"].pk]["SLA breached"] == "No"
    assert by_number[tickets["mine"].pk]["assignee"] == str(tickets["mine"].assignee)
    assert by_number[tickets["mine"].pk]["status"] == "Assigned"


def test_formulas_in_summaries_and_subjects_are_neutralised(client, manager, rep, customers):
    make_interaction(customers["mine"], rep, summary="=1+2", outcome="-2+3")
    make_ticket(customers["mine"], rep, subject="+cmd|' /C calc'!A0")
    client.force_login(manager)
    header, row = csv_rows(client.get(INTERACTIONS_URL, {"format": "csv"}))
    assert (row[6], row[7]) == ("'=1+2", "'-2+3")
    header, row = csv_rows(client.get(TICKETS_URL, {"format": "csv"}))
    assert row[1] == "'+cmd|' /C calc'!A0"


def test_export_menus_carry_the_filters(client, rep, manager):
    client.force_login(rep)
    assert 'data-testid="export-menu"' not in client.get("/interactions/log/").content.decode()
    assert 'data-testid="export-menu"' not in client.get("/interactions/tickets/").content.decode()
    client.force_login(manager)
    page = client.get("/interactions/log/", {"channel": "wechat"}).content.decode()
    assert f"{INTERACTIONS_URL}?channel=wechat&amp;format=xlsx" in page
    page = client.get("/interactions/tickets/", {"open_only": "on"}).content.decode()
    assert f"{TICKETS_URL}?open_only=on&amp;format=csv" in page


def _export_queries(kind: str, user: User) -> int:
    user = User.objects.get(pk=user.pk)  # no cached permissions
    with CaptureQueriesContext(connection) as ctx:
        export_write(exporter=get_exporter(kind), user=user, params=QueryDict(), fmt="csv", out=io.BytesIO())
    return len(ctx.captured_queries)


def test_export_query_counts_do_not_grow_with_the_rows(manager, rep, customers):
    make_interaction(customers["mine"], rep)
    make_ticket(customers["mine"], rep)
    few = (_export_queries("interactions", manager), _export_queries("tickets", manager))
    contact = make_contact(customers["mine"], name="王经理")
    for i in range(12):
        make_interaction(customers["mine"], rep, summary=f"回访{i}", contact=contact)
        make_ticket(customers["mine"], rep, subject=f"问题{i}", contact=contact, assignee=rep)
    # permissions (2), managed teams, the rows (customer, contact and user joined).
    assert (_export_queries("interactions", manager), _export_queries("tickets", manager)) == few
    assert max(few) <= 4


# --- background ------------------------------------------------------------------------


def test_assigned_to_me_holds_in_a_background_export(
    client, english, service, tickets, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_MAX_ROWS = 0
    settings.MEDIA_ROOT = tmp_path
    client.force_login(service)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(TICKETS_URL, {"format": "xlsx", "mine": "on"})
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("core:export_status", args=[job.pk])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    response = client.get(reverse("core:export_download", args=[job.pk]))
    assert response["Content-Disposition"].endswith('.xlsx"')
    header, *rows = xlsx_rows(body(response))
    assert [row[0] for row in rows] == [tickets["mine"].pk]
