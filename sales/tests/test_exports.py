"""Exports of the order list and the opportunity list: permission, scope, masking, the list's
filters and order, formula injection, formats, audit, query counts and the background path."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.exports import export_write, get_exporter
from core.models import AuditLog, ExportJob, User
from core.tests.factories import UserFactory
from core.tests.spreadsheets import body, csv_rows, xlsx_rows
from customers.tests.factories import CustomerFactory
from sales.models import Order, PipelineStage
from sales.tests.factories import make_opportunity, make_order

pytestmark = pytest.mark.django_db

MOBILE = "13800138000"
ORDERS_URL = reverse("sales:order_export")
OPPORTUNITIES_URL = reverse("sales:opportunity_export")
ORDER_HEADER = [
    "order number",
    "customer",
    "company",
    "customer mobile phone",
    "ordered at",
    "status",
    "channel",
    "total",
    "owner",
]


@pytest.fixture
def english(rep, teammate, manager, other_manager, service, admin_user):
    User.objects.update(language="en")


@pytest.fixture
def customers(rep, teammate, other_rep):
    return {
        "mine": CustomerFactory(name="张三", owner=rep, mobile=MOBILE, company="张氏贸易"),
        "teammate": CustomerFactory(name="李四", owner=teammate),
        "other": CustomerFactory(name="王五", owner=other_rep),
    }


@pytest.fixture
def orders(customers, rep, teammate, other_rep):
    return {
        "paid": make_order(customers["mine"], rep, status=Order.Status.PAID),
        "pending": make_order(customers["teammate"], teammate, status=Order.Status.PENDING),
        "other": make_order(customers["other"], other_rep),
    }


@pytest.fixture
def stages() -> dict[str, PipelineStage]:
    return {s.name_en: s for s in PipelineStage.objects.all()}


@pytest.fixture
def opportunities(customers, rep, teammate, other_rep, stages):
    return {
        "big": make_opportunity(customers["mine"], rep, title="大单", amount=Decimal("90000.00")),
        "small": make_opportunity(
            customers["teammate"],
            teammate,
            title="小单",
            amount=Decimal("1000.50"),
            stage=stages["Proposal"],
        ),
        "other": make_opportunity(customers["other"], other_rep, title="别队的单"),
    }


def _with_perms(username: str, *perms: str) -> User:
    user = UserFactory(username=username, language="en")
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)


# --- orders: permission and scope ----------------------------------------------------------


@pytest.mark.parametrize("persona", ["rep", "service"])
def test_reps_and_customer_service_may_not_export_orders(client, request, persona, orders):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(ORDERS_URL, {"format": "csv"}).status_code == 403
    assert client.get(OPPORTUNITIES_URL, {"format": "csv"}).status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_manager_exports_the_teams_orders_only(client, english, manager, orders):
    client.force_login(manager)
    response = client.get(ORDERS_URL, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    header, *rows = csv_rows(response)
    assert header == ORDER_HEADER
    assert {row[0] for row in rows} == {orders["paid"].number, orders["pending"].number}


def test_unknown_format_is_a_bad_request(client, manager):
    client.force_login(manager)
    assert client.get(ORDERS_URL, {"format": "pdf"}).status_code == 400


def test_order_rows_in_english_with_amounts_as_numbers(client, english, manager, orders):
    client.force_login(manager)
    header, *rows = xlsx_rows(client.get(ORDERS_URL, {"format": "xlsx", "status": "paid"}))
    (row,) = rows
    values = dict(zip(header, row, strict=True))
    assert values["order number"] == orders["paid"].number
    assert values["customer"] == "张三"
    assert values["company"] == "张氏贸易"
    assert values["status"] == "Paid"
    assert values["channel"] == "Sales rep"
    assert values["total"] == 100  # a number, not text
    assert values["owner"] == str(orders["paid"].owner)


def test_order_export_headers_follow_the_users_language(client, manager, orders):
    manager.language = "zh-hans"
    manager.save(update_fields=["language"])
    client.force_login(manager)
    header, *rows = csv_rows(client.get(ORDERS_URL, {"format": "csv", "status": "paid"}))
    assert header[0] == "订单号" and header[1] == "客户"
    assert rows[0][5] == "已付款"


# --- masking -------------------------------------------------------------------------------


def test_customer_phone_is_unmasked_with_view_sensitive(client, english, manager, orders):
    client.force_login(manager)
    rows = csv_rows(client.get(ORDERS_URL, {"format": "csv", "status": "paid"}))
    assert rows[1][ORDER_HEADER.index("customer mobile phone")] == MOBILE
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.details["unmasked"] is True


def test_customer_phone_is_masked_without_view_sensitive(client, orders):
    user = _with_perms("exporter", "sales.view_order", "sales.export_order", "customers.view_all_customers")
    client.force_login(user)
    rows = csv_rows(client.get(ORDERS_URL, {"format": "csv"}))
    assert len(rows) == 4  # all three orders
    phones = {row[0]: row[3] for row in rows[1:]}
    assert phones[orders["paid"].number] == "138****8000"
    assert MOBILE not in str(rows)
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).details["unmasked"] is False


# --- filters, order and content -----------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"status": "paid"}, {"status": ["pending", "paid"]}, {"q": "李四"}, {"total_min": "50"}],
)
def test_order_export_rows_equal_the_list_rows(client, manager, orders, customers, rep, params):
    for _ in range(3):
        make_order(customers["mine"], rep, status=Order.Status.COMPLETED)
    client.force_login(manager)
    listed = [o.number for o in client.get("/sales/orders/", params).context["page"].object_list]
    rows = csv_rows(client.get(ORDERS_URL, {**params, "format": "csv"}))
    assert [row[0] for row in rows[1:]] == listed


def test_formulas_in_customer_names_are_neutralised(client, manager, rep):
    evil = CustomerFactory(name='=HYPERLINK("http://evil.example/","x")', owner=rep, company="@SUM(A1)")
    make_order(evil, rep)
    client.force_login(manager)
    header, row = csv_rows(client.get(ORDERS_URL, {"format": "csv"}))
    assert row[1] == '\'=HYPERLINK("http://evil.example/","x")'
    assert row[2] == "'@SUM(A1)"
    header, row = xlsx_rows(client.get(ORDERS_URL, {"format": "xlsx"}))
    assert row[1].startswith("'=")


def test_export_menu_on_the_order_list_carries_the_filters(client, rep, manager):
    client.force_login(rep)
    assert 'data-testid="export-menu"' not in client.get("/sales/orders/").content.decode()
    client.force_login(manager)
    page = client.get("/sales/orders/", {"status": "paid", "cursor": "x"}).content.decode()
    assert 'data-testid="export-menu"' in page
    assert f"{ORDERS_URL}?status=paid&amp;format=xlsx" in page
    assert f"{ORDERS_URL}?status=paid&amp;format=csv" in page


def test_order_export_is_audited_without_personal_data(client, manager, orders):
    client.force_login(manager)
    client.get(ORDERS_URL, {"format": "xlsx", "q": "张三", "status": "paid"})
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == manager
    assert entry.ip_address == "127.0.0.1"
    assert entry.details["kind"] == "orders"
    assert entry.details["rows"] == 1
    assert entry.details["format"] == "xlsx"
    assert QueryDict(entry.details["query"]).dict() == {"q": "[redacted]", "status": "paid"}
    assert "张三" not in str(entry.details) and MOBILE not in str(entry.details)


def _export_queries(kind: str, user: User) -> int:
    user = User.objects.get(pk=user.pk)  # no cached permissions
    with CaptureQueriesContext(connection) as ctx:
        export_write(
            exporter=get_exporter(kind),
            user=user,
            params=QueryDict(),
            fmt="xlsx",
            out=io.BytesIO(),
        )
    return len(ctx.captured_queries)


def test_order_export_query_count_does_not_grow_with_the_rows(manager, rep, customers):
    make_order(customers["mine"], rep)
    few = _export_queries("orders", manager)
    for i in range(15):
        make_order(CustomerFactory(name=f"客户{i}", owner=rep), rep)
    # permissions (2), managed teams, the orders (customer and owner joined).
    assert _export_queries("orders", manager) == few <= 4


# --- opportunities -----------------------------------------------------------------------


def test_manager_exports_the_teams_opportunities_with_labels_and_numbers(
    client, english, manager, opportunities
):
    client.force_login(manager)
    response = client.get(OPPORTUNITIES_URL, {"format": "xlsx"})
    assert response["Content-Disposition"].startswith('attachment; filename="opportunities-')
    header, *rows = xlsx_rows(response)
    assert header[:4] == ("title", "customer", "stage", "amount")
    by_title = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_title) == {"大单", "小单"}
    small = by_title["小单"]
    assert small["stage"] == "Proposal"
    assert small["amount"] == 1000.5
    assert small["currency"] == "CNY"
    assert small["weighted amount"] == float(opportunities["small"].weighted_amount)
    assert small["team"] == "华东销售部"
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).details["kind"] == "opportunities"


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "amount"}, {"sort": "-amount"}, {"open_only": "on"}, {"q": "大单"}, {"amount_min": "5000"}],
)
def test_opportunity_export_rows_equal_the_list_rows_in_the_lists_order(
    client, manager, opportunities, customers, rep, params
):
    for amount in ("300", "20000", "7000"):
        make_opportunity(customers["mine"], rep, title=f"单{amount}", amount=Decimal(amount))
    client.force_login(manager)
    listed = [o.title for o in client.get("/sales/opportunities/", params).context["page"].object_list]
    rows = csv_rows(client.get(OPPORTUNITIES_URL, {**params, "format": "csv"}))
    assert [row[0] for row in rows[1:]] == listed


def test_opportunity_stage_filter_is_respected(client, manager, opportunities, stages):
    client.force_login(manager)
    rows = csv_rows(client.get(OPPORTUNITIES_URL, {"format": "csv", "stage": stages["Proposal"].pk}))
    assert [row[0] for row in rows[1:]] == ["小单"]


def test_export_menu_on_the_opportunity_list_carries_filters_and_sort(client, manager):
    client.force_login(manager)
    page = client.get("/sales/opportunities/", {"open_only": "on", "sort": "amount", "per_page": "25"})
    html = page.content.decode()
    assert f"{OPPORTUNITIES_URL}?open_only=on&amp;sort=amount&amp;format=csv" in html


def test_opportunity_export_query_count_does_not_grow_with_the_rows(manager, rep, customers):
    make_opportunity(customers["mine"], rep)
    few = _export_queries("opportunities", manager)
    for i in range(15):
        make_opportunity(customers["mine"], rep, title=f"机会{i}")
    # permissions (2), managed teams, the custom-field definitions (for the columns, and for
    # the list's filters), the opportunities (customer, owner, team, stage joined).
    assert _export_queries("opportunities", manager) == few <= 6


# --- background ------------------------------------------------------------------------


def test_a_long_order_list_is_exported_in_the_background(
    client, english, manager, other_manager, orders, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_MAX_ROWS = 1
    settings.MEDIA_ROOT = tmp_path
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(ORDERS_URL, {"format": "csv", "status": ["paid", "pending"], "cursor": "x"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("core:export_status", args=[job.pk])
    assert (job.kind, job.format, job.created_by) == ("orders", "csv", manager)
    assert QueryDict(job.params).getlist("status") == ["paid", "pending"]
    assert job.status == ExportJob.Status.DONE and job.total_rows == 2

    download = reverse("core:export_download", args=[job.pk])
    client.force_login(other_manager)
    assert client.get(download).status_code == 404
    client.force_login(manager)
    response = client.get(download)
    assert response.status_code == 200
    header, *rows = csv_rows(body(response))
    assert header == ORDER_HEADER
    assert {row[0] for row in rows} == {orders["paid"].number, orders["pending"].number}
    entries = AuditLog.objects.filter(action=AuditLog.Action.EXPORT).order_by("at")
    assert [e.details.get("download", False) for e in entries] == [False, True]
    assert all(e.details["kind"] == "orders" and e.details["rows"] == 2 for e in entries)


def test_a_short_list_stays_a_direct_download(client, manager, orders, settings):
    settings.EXPORT_SYNC_MAX_ROWS = 2
    client.force_login(manager)
    assert client.get(ORDERS_URL, {"format": "csv"}).status_code == 200
    assert not ExportJob.objects.exists()
