"""Custom fields on customers, end to end: an admin defines them, a rep fills them in the
form, the detail page and the ledger show and filter them, the import reads them, the export
writes them; sensitive ones are encrypted and masked; scope holds on every path."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from core import custom_fields, importing
from core.models import AuditLog, CustomField, ImportJob
from customers.models import Contact, Customer
from customers.privacy import customer_erase, privacy_access_export
from customers.search import phone_bidx
from customers.tests.factories import CustomerFactory, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def define(**kwargs) -> CustomField:
    kwargs.setdefault("target", "customer")
    kwargs.setdefault("label_en", kwargs["key"].replace("_", " ").capitalize())
    return CustomField.objects.create(**kwargs)


def form_data(**extra) -> dict:
    data = {
        "kind": "individual",
        "name": "王芳",
        "lifecycle_stage": "prospect",
        "value_tier": "potential",
        "source": "phone",
    }
    data.update(extra)
    return data


def xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def run_import(user, content: bytes) -> ImportJob:
    job = ImportJob(kind="customers", created_by=user, original_name="c.xlsx", default_owner=user)
    job.file.save("c.xlsx", ContentFile(content), save=False)
    job.save()
    importing.job_prepare(job=job)
    job.refresh_from_db()
    return importing.import_run(job=job)


def export_rows(client, query: str) -> list[list[str]]:
    response = client.get(reverse("customers:export") + "?" + query + "&format=csv")
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def without_view_sensitive(user):
    for group in user.groups.all():
        group.permissions.remove(Permission.objects.get(codename="view_sensitive"))
    return type(user).objects.get(pk=user.pk)


def test_define_fill_show_filter_import_export_end_to_end(client, admin_user, manager, rep):
    # 1. An admin defines the fields in the Django admin.
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:core_customfield_add"),
        {
            "target": "customer",
            "key": "budget",
            "kind": "decimal",
            "label_en": "Budget",
            "label_zh_hans": "预算",
            "order": 1,
            "show_in_list": "on",
            "filterable": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client.post(
        reverse("admin:core_customfield_add"),
        {
            "target": "customer",
            "key": "level",
            "kind": "choice",
            "choices": "gold | Gold | 金牌\nsilver | Silver | 银牌",
            "label_en": "Membership",
            "label_zh_hans": "会员级别",
            "order": 2,
            "show_in_list": "on",
            "filterable": "on",
            "required": "on",
        },
    )
    assert list(CustomField.objects.values_list("key", flat=True)) == ["budget", "level"]

    # 2. A rep fills them in the customer form; the service stores typed JSON.
    client.force_login(rep)
    form = client.get(reverse("customers:create"))
    assert "cf_budget" in form.content.decode() and "Gold" in form.content.decode()
    response = client.post(reverse("customers:create"), form_data(cf_budget="1200.50", cf_level="gold"))
    assert response.status_code == 302
    customer = Customer.objects.get(name="王芳")
    assert customer.custom == {"budget": 1200.5, "level": "gold"}
    assert customer.history.first().custom == {"budget": 1200.5, "level": "gold"}

    # 3. The detail page shows them.
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "Budget" in page and "1200.5" in page and "Gold" in page

    # 4. The ledger filters on them (indexed equality, and a range) and shows the columns.
    CustomerFactory(owner=rep, name="李雷", custom={"budget": 50, "level": "silver"})
    response = client.get(reverse("customers:list") + "?cf_level=gold")
    assert [c.name for c in response.context["page"].object_list] == ["王芳"]
    assert response.context["page"].count == 1
    response = client.get(reverse("customers:list") + "?cf_budget_min=100")
    assert response.context["page"].count == 1
    response = client.get(reverse("customers:list"))
    assert response.context["custom_columns"] == ["Budget", "Membership"]
    assert "Silver" in response.content.decode()

    # 5. An import maps the columns by their labels (either language) and checks each cell.
    job = run_import(
        rep,
        xlsx(
            [
                ["姓名", "预算", "Membership"],
                ["赵六", "300", "银牌"],
                ["钱七", "lots", "gold"],
                ["孙八", "5", "bronze"],
            ]
        ),
    )
    assert job.mapping == {"0": "name", "1": "cf_budget", "2": "cf_level"}
    assert (job.imported, job.rejected) == (1, 2)
    assert Customer.objects.get(name="赵六").custom == {"budget": 300.0, "level": "silver"}
    reasons = sorted(job.issues.values_list("message", flat=True))
    assert reasons == ["Enter a number.", "“bronze” is not one of the choices: Gold, Silver."]

    # 6. The export (the manager's, in the same scope and filters) carries the columns.
    client.force_login(manager)
    rows = export_rows(client, "cf_level=silver")
    header = rows[0]
    assert header[-2:] == ["Budget", "Membership"]
    assert sorted(row[0] for row in rows[1:]) == ["李雷", "赵六"]
    assert {row[-1] for row in rows[1:]} == {"Silver"}


def test_the_form_refuses_bad_values_with_translated_errors_and_saves_nothing(client, rep):
    define(key="visits", kind="number")
    define(key="since", kind="date")
    define(key="level", kind="choice", choices="gold\nsilver")
    define(key="contract", kind="text", required=True)
    client.force_login(rep)
    response = client.post(
        reverse("customers:create"),
        form_data(cf_visits="12.5", cf_since="2026-02-30", cf_level="bronze"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["cf_visits"] == ["Enter a whole number."]
    assert errors["cf_since"] == ["Enter a valid date."]
    assert errors["cf_level"] == ["Select a valid choice. bronze is not one of the available choices."]
    assert errors["cf_contract"] == ["This field is required."]
    assert not Customer.objects.exists()
    with translation.override("zh-hans"):
        response = client.post(
            reverse("customers:create"), form_data(cf_visits="x"), HTTP_ACCEPT_LANGUAGE="zh-hans"
        )
    assert "请输入整数" in response.content.decode() or "整数" in response.content.decode()


def test_editing_keeps_values_of_other_fields_and_clears_emptied_ones(client, rep):
    define(key="note_a", kind="text")
    customer = CustomerFactory(owner=rep, custom={"note_a": "x", "legacy": 1})
    client.force_login(rep)
    response = client.post(
        reverse("customers:edit", args=[customer.pk]), form_data(name=customer.name, cf_note_a="")
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.custom == {"legacy": 1}


def test_sensitive_field_is_encrypted_masked_revealed_with_an_audit_entry_and_matched_exactly(
    client, rep, manager
):
    define(key="id_number", label_en="ID number", sensitive=True, filterable=True, show_in_list=True)
    client.force_login(rep)
    client.post(reverse("customers:create"), form_data(cf_id_number="110101199001011234"))
    customer = Customer.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT custom::text FROM customers_customer WHERE id = %s", [customer.pk])
        assert "110101199001011234" not in cursor.fetchone()[0]

    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "110101199001011234" not in page and "11****" in page
    assert reverse("customers:reveal", args=[customer.pk, "cf_id_number"]) in page
    response = client.post(reverse("customers:reveal", args=[customer.pk, "cf_id_number"]))
    assert response.json() == {"value": "110101199001011234"}
    assert AuditLog.objects.filter(action="reveal", field="cf_id_number", object_id=str(customer.pk)).exists()

    # The list masks it; the filter posts through the search form, so the URL carries a token.
    response = client.post(reverse("customers:search"), {"cf_id_number": "110101199001011234"})
    assert "110101199001011234" not in response.url and "cf_id_number=~" in response.url
    listed = client.get(response.url)
    assert listed.context["page"].count == 1
    assert "110101199001011234" not in listed.content.decode()
    assert (
        client.get(reverse("customers:list") + "?cf_id_number=110101199001011239").context["page"].count == 0
    )

    # Exports: clear for who may reveal, masked otherwise.
    client.force_login(manager)
    rows = export_rows(client, "")
    assert rows[1][-1] == "110101199001011234"
    masked_manager = without_view_sensitive(manager)
    client.force_login(masked_manager)
    rows = export_rows(client, "")
    assert rows[1][-1] == "11****"
    # ... and no reveal without the permission.
    assert client.post(reverse("customers:reveal", args=[customer.pk, "cf_id_number"])).status_code == 403
    assert custom_fields.custom_values_for(customer, masked_manager) == {"id_number": "11****"}


def test_a_rep_sees_no_custom_values_of_another_teams_customer_on_any_path(client, rep, other_rep, manager):
    define(key="secret_plan", kind="text", filterable=True, show_in_list=True)
    define(key="pin", kind="text", sensitive=True, filterable=True)
    theirs = CustomerFactory(owner=other_rep, name="别人的客户", custom={})
    theirs.custom = custom_fields.clean_custom_values("customer", {"secret_plan": "扩张", "pin": "8888"})
    theirs.save()
    client.force_login(rep)
    assert client.get(reverse("customers:detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("customers:reveal", args=[theirs.pk, "cf_pin"])).status_code == 404
    listed = client.get(reverse("customers:list") + "?cf_secret_plan=扩张")
    assert listed.context["page"].count == 0 and "别人的客户" not in listed.content.decode()
    assert client.get(reverse("customers:edit", args=[theirs.pk])).status_code == 404
    # The import cannot write into it either: a match outside the scope is skipped.
    theirs.mobile = "13800138000"
    theirs.mobile_bidx = phone_bidx("13800138000")
    theirs.save()
    job = run_import(rep, xlsx([["姓名", "Secret plan", "手机"], ["别人的客户", "改了", "13800138000"]]))
    theirs.refresh_from_db()
    assert custom_fields.values_of(theirs, custom_fields.definitions("customer"))["secret_plan"] == "扩张"
    assert (job.updated, job.skipped) == (0, 1)
    # A manager of another team does not export it.
    client.force_login(manager)
    rows = export_rows(client, "")
    assert all("扩张" not in row for row in rows)


def test_only_admins_define_custom_fields(client, rep, manager, service, admin_user):
    url = reverse("admin:core_customfield_add")
    for user in (rep, manager, service):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_kind_cannot_change_once_values_exist_and_deletion_is_audited(client, admin_user, rep):
    field = define(key="visits", kind="number")
    customer = CustomerFactory(owner=rep, custom={"visits": 3})
    client.force_login(admin_user)
    change = reverse("admin:core_customfield_change", args=[field.pk])
    response = client.post(
        change, {"target": "customer", "key": "visits", "kind": "text", "label_en": "Visits", "order": 0}
    )
    assert response.status_code == 200
    assert "kind and whether it is sensitive cannot change" in response.content.decode()
    field.refresh_from_db()
    assert field.kind == "number"
    # Deleting: Django's confirmation page first, then the values go and the audit log says so.
    delete = reverse("admin:core_customfield_delete", args=[field.pk])
    assert "Are you sure" in client.get(delete).content.decode()
    client.post(delete, {"post": "yes"})
    assert not CustomField.objects.exists()
    customer.refresh_from_db()
    assert customer.custom == {}
    entry = AuditLog.objects.get(action="delete", object_type="core.customfield")
    assert entry.details == {"kind": "custom_field", "target": "customer", "key": "visits", "records": 1}


def test_a_choice_in_use_cannot_be_removed(client, admin_user, rep):
    field = define(key="level", kind="choice", choices="gold\nsilver")
    CustomerFactory(owner=rep, custom={"level": "gold"})
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:core_customfield_change", args=[field.pk]),
        {
            "target": "customer",
            "key": "level",
            "kind": "choice",
            "choices": "silver\nbronze",
            "label_en": "Level",
            "order": 0,
        },
    )
    assert "The choice “gold” is in use and cannot be removed." in response.content.decode()


def test_list_queries_do_not_grow_with_custom_columns_or_rows(client, rep, django_assert_max_num_queries):
    for key, kind in (("a", "text"), ("b", "number"), ("c", "date"), ("d", "yes_no")):
        define(key=key, kind=kind, show_in_list=True, filterable=True)
    define(key="e", kind="text", sensitive=True, show_in_list=True)
    for i in range(30):
        customer = CustomerFactory(owner=rep, name=f"客户{i}")
        customer.custom = custom_fields.clean_custom_values(
            "customer", {"a": "x", "b": i, "c": "2026-01-01", "d": True, "e": "secretvalue"}
        )
        customer.save()
    client.force_login(rep)
    client.get(reverse("customers:list"))  # warm the session and permission caches
    # session, user, the custom-field definitions (the one query they add), perms (user +
    # groups), managed teams, count, page, tags of the page, the menu's task and notification
    # badges, saved views, the session save (savepoint, update, release): none per row.
    with django_assert_max_num_queries(17):
        response = client.get(reverse("customers:list") + "?per_page=50&cf_d=yes")
    assert len(response.context["page"].object_list) == 30
    assert "secretvalue" not in response.content.decode()
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("customers:list") + "?per_page=25&cf_d=yes")
    with CaptureQueriesContext(connection) as large:
        client.get(reverse("customers:list") + "?per_page=50&cf_d=yes")
    assert len(small.captured_queries) == len(large.captured_queries)


def test_contacts_get_their_custom_fields(client, rep):
    define(key="wechat_group", target="contact", label_en="WeChat group")
    customer = CustomerFactory(owner=rep, kind="company", company="某公司")
    client.force_login(rep)
    response = client.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "张经理", "cf_wechat_group": "华东群"},
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.custom == {"wechat_group": "华东群"}
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "WeChat group" in page and "华东群" in page


def test_import_template_lists_the_custom_columns(rep):
    define(key="level", kind="choice", choices="gold | Gold | 金牌", label_en="Level")
    workbook = load_workbook(io.BytesIO(importing.template_workbook(importing.get_importer("customers"))))
    header = [cell.value for cell in next(workbook.active.iter_rows(max_row=1))]
    assert any(str(value).startswith("Level") for value in header if value)


def test_access_export_includes_and_erasure_clears_custom_values(admin_user, rep):
    define(key="hobby", kind="text", label_en="Hobby")
    define(key="pin", kind="text", sensitive=True, label_en="PIN")
    define(key="club", kind="text", target="contact", label_en="Club")
    customer = CustomerFactory(owner=rep, name="隐私客户")
    customer.custom = custom_fields.clean_custom_values("customer", {"hobby": "钓鱼", "pin": "4321"})
    customer.save()
    make_contact(customer, name="联系人甲", custom={"club": "棋社"})
    content, _name = privacy_access_export(customer=customer, user=admin_user, fmt="json")
    text = json.dumps(json.loads(content), ensure_ascii=False)
    assert "Hobby: 钓鱼" in text and "PIN: 4321" in text and "Club: 棋社" in text
    customer_erase(customer=customer, user=admin_user, reason="asked")
    customer.refresh_from_db()
    assert customer.custom == {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT custom::text FROM customers_historicalcustomer WHERE id = %s", [customer.pk])
        assert all("钓鱼" not in row[0] for row in cursor.fetchall())


def test_a_merge_keeps_the_survivors_values_and_takes_the_others_missing_ones(admin_user, rep):
    from customers.services import customer_merge

    define(key="hobby", kind="text")
    define(key="size", kind="number")
    define(key="pin", kind="text", sensitive=True)
    survivor = CustomerFactory(owner=rep, name="留下的客户")
    survivor.custom = custom_fields.clean_custom_values("customer", {"hobby": "钓鱼"})
    survivor.save()
    merged = CustomerFactory(owner=rep, name="合并的客户")
    merged.custom = custom_fields.clean_custom_values(
        "customer", {"hobby": "登山", "size": 42, "pin": "4321"}
    )
    merged.save()
    customer_merge(survivor=survivor, merged=merged, choices={}, user=admin_user)
    survivor.refresh_from_db()
    shown = custom_fields.custom_values_for(survivor, admin_user)
    assert shown["hobby"] == "钓鱼" and shown["size"] == 42 and shown["pin"] == "4321"


def test_a_sensitive_opportunity_filter_leaves_the_address_as_its_token(client, rep):
    from sales.tests.factories import make_opportunity

    define(key="contract_no", kind="text", target="opportunity", sensitive=True, filterable=True)
    opportunity = make_opportunity(CustomerFactory(owner=rep), rep)
    opportunity.custom = custom_fields.clean_custom_values("opportunity", {"contract_no": "HT-2026-001"})
    opportunity.save()
    client.force_login(rep)
    url = reverse("sales:opportunity_list")
    response = client.get(url, {"cf_contract_no": "HT-2026-001"})
    assert response.status_code == 302 and "HT-2026-001" not in response["Location"]
    listed = client.get(response["Location"])
    assert [o.pk for o in listed.context["page"].object_list] == [opportunity.pk]


def test_the_customer_import_fills_the_contacts_custom_fields(rep):
    define(
        key="club",
        kind="choice",
        target="contact",
        label_en="Club",
        label_zh_hans="俱乐部",
        choices="chess | Chess | 棋社\ngolf | Golf | 高尔夫",
    )
    content = xlsx(
        [
            ["客户名称", "联系人", "联系人俱乐部"],
            ["导入客户甲", "张三", "chess"],
            ["导入客户乙", "", "golf"],  # a contact detail without the contact's name
            ["导入客户丙", "李四", "tennis"],  # not a choice
        ]
    )
    job = run_import(rep, content)
    assert (job.imported, job.rejected) == (1, 2)
    contact = Contact.objects.get(name="张三")
    assert custom_fields.custom_values_for(contact, rep) == {"club": "chess"}
    assert not Customer.objects.filter(name__in=["导入客户乙", "导入客户丙"]).exists()


def test_the_change_history_shows_custom_fields_by_label_and_never_a_sensitive_value(client, rep):
    from customers.selectors import customer_history

    define(key="hobby", kind="text", label_en="Hobby")
    define(key="pin", kind="text", sensitive=True, label_en="PIN")
    client.force_login(rep)
    customer = CustomerFactory(owner=rep)
    for values in ({"hobby": "钓鱼", "pin": "4321"}, {"hobby": "登山", "pin": "9999"}):
        customer.custom = custom_fields.clean_custom_values("customer", values)
        customer._change_reason = "test"
        customer.save()
    newest = customer_history(customer)[0]
    changes = {c.label: (c.old, c.new) for c in newest.changes}
    assert changes["Hobby"] == ("钓鱼", "登山")
    assert changes["PIN"] == ("••••", "changed")
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "9999" not in html and "4321" not in html and '"enc"' not in html


def test_posted_values_stay_out_of_error_reports(client, rep):
    """Error reports (mail to admins) leave out every posted value of the forms that may carry
    sensitive custom fields."""
    from sales.tests.factories import ensure_default_pipeline

    ensure_default_pipeline()
    client.force_login(rep)
    customer = CustomerFactory(owner=rep)
    for url in (
        reverse("customers:create"),
        reverse("customers:edit", args=[customer.pk]),
        reverse("sales:opportunity_create") + f"?customer={customer.pk}",
    ):
        response = client.post(url, {})
        assert response.wsgi_request.sensitive_post_parameters == "__ALL__", url
