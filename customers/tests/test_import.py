"""Customer import through core.importing: mapping, messy cells, counts, duplicates, dry run,
undo, scope and the error report (the web wizard is tested in core/tests/test_import_views.py)."""

import csv
import io
from datetime import date, datetime, timedelta

import pytest
import time_machine
import xlsxwriter
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone
from openpyxl import load_workbook

from core import importing
from core.models import AuditLog, ImportJob
from core.spreadsheets import UnusableFile
from customers.models import Contact, Customer, Tag, TierChange
from customers.tests.factories import CustomerFactory, TagFactory, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are asserted in English (the users' language is otherwise the default zh-hans)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def xlsx(rows, *, build=None) -> bytes:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out)
    sheet = workbook.add_worksheet()
    for number, row in enumerate(rows):
        sheet.write_row(number, 0, row)
    if build:
        build(workbook, sheet)
    workbook.close()
    return out.getvalue()


def csv_bytes(rows, encoding="utf-8-sig") -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode(encoding)


def make_job(user, content: bytes, name="customers.xlsx", **options) -> ImportJob:
    options.setdefault("default_owner", user)
    job = ImportJob(kind="customers", created_by=user, original_name=name, **options)
    job.file.save(name, ContentFile(content), save=False)
    job.save()
    importing.job_prepare(job=job)
    job.refresh_from_db()
    return job


def run(user, content, *, dry_run=False, **options) -> ImportJob:
    return importing.import_run(job=make_job(user, content, **options), dry_run=dry_run)


def snapshot(customer: Customer) -> dict:
    customer = Customer.objects.get(pk=customer.pk)
    values = {
        f.name: getattr(customer, f.name) for f in Customer._meta.concrete_fields if f.name != "updated_at"
    }
    values["tags"] = sorted(customer.tags.values_list("name", flat=True))
    values["contacts"] = sorted(customer.contacts.values_list("name", flat=True))
    return values


def assert_counts_add_up(job: ImportJob, rows: int):
    assert job.total_rows == rows
    assert job.imported + job.updated + job.skipped + job.rejected == rows


# --- mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["姓名", "手机", "邮箱", "地址", "单位"], ["name", "mobile", "email", "street", "company"]),
        (
            ["客户名称", "联系电话", "电子邮件", "详细地址", "公司"],
            ["name", "mobile", "email", "street", "company"],
        ),
        (
            ["名称", "手机号", "E-mail", "Address", "Company"],
            ["name", "mobile", "email", "street", "company"],
        ),
        (
            ["Full name", "Mobile", "Email", "Street", "Organization"],
            ["name", "mobile", "email", "street", "company"],
        ),
        (["Name", "Phone", "e-mail", "address", "company"], ["name", "mobile", "email", "street", "company"]),
        (
            ["客户姓名*", "联系方式(必填)", "邮箱：", "地址", "公司名称"],
            ["name", "mobile", "email", "street", "company"],
        ),
    ],
)
def test_header_aliases_in_both_languages_map_automatically(rep, headers, expected):
    job = make_job(rep, xlsx([headers, ["张三", "13800138000", "a@example.com", "某路1号", "某公司"]]))
    assert [job.mapping[str(i)] for i in range(len(headers))] == expected


def test_header_row_is_found_below_a_title_and_unknown_columns_are_left_out(rep):
    job = make_job(
        rep,
        xlsx(
            [["2024 展会客户"], [], ["序号", "姓名", "手机", "喜欢的颜色"], [1, "张三", "13800138000", "红"]]
        ),
    )
    assert job.header_row == 3
    assert job.mapping == {"1": "name", "2": "mobile"}
    assert job.total_rows == 1


def test_family_and_given_name_columns_make_the_name(rep):
    job = run(rep, xlsx([["姓", "名", "手机"], ["张", "三丰", "13800138000"], ["Smith", "", "13900139000"]]))
    assert job.imported == 2
    assert set(Customer.objects.values_list("name", flat=True)) == {"张三丰", "Smith"}


def test_saved_mapping_is_applied_to_the_next_file(rep):
    job = make_job(rep, xlsx([["姓名", "客户的手机呀"], ["张三", "13800138000"]]))
    assert "1" not in job.mapping
    importing.mapping_save(
        user=rep, kind="customers", headers=job.headers, mapping={"0": "name", "1": "mobile"}
    )
    again = make_job(rep, xlsx([["姓名", "客户的手机呀"], ["李四", "13900139000"]]))
    assert again.mapping == {"0": "name", "1": "mobile"}


def test_a_file_without_a_recognisable_header_is_unusable_and_writes_nothing(rep):
    with pytest.raises(UnusableFile) as error:
        make_job(rep, xlsx([["a", "b"], [1, 2]]))
    assert "header" in str(error.value)
    assert Customer.objects.count() == 0


# --- messy cells -----------------------------------------------------------------------------


def test_messy_cells_are_cleaned(rep):
    def build(workbook, sheet):
        as_date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_datetime(1, 3, datetime(1990, 5, 20), as_date)
        sheet.merge_range("E4:E5", "华为技术有限公司")  # one company over two contacts' rows
        sheet.write_formula(6, 0, '=CONCATENATE("赵","六")', None, "赵六")

    rows = [
        ["姓名", "手机", "邮箱", "生日", "公司", "联系人", "标签", "营销同意"],
        ["  张三  ", 13800138000.0, " ZHANG@Example.COM ", None, "", "", "VIP，展会", "是"],
        ["李四", "１３９００１３９０００", "", "2024年1月5日", "", "", "", "否"],
        ["王五", "138-0013-8001", "", 45296, None, "联系人甲", "", ""],
        ["王五", "", "", "", None, "联系人乙", "", ""],
        [],
        [None, "13800138002", "", "2024/1/5"],
    ]
    job = run(rep, xlsx(rows, build=build))
    assert (job.imported, job.updated, job.skipped, job.rejected) == (4, 1, 0, 0), list(
        job.issues.values_list("message", flat=True)
    )
    assert_counts_add_up(job, 5)
    zhang = Customer.objects.get(name="张三")
    assert (zhang.mobile, zhang.email, zhang.birthday) == (
        "13800138000",
        "zhang@example.com",
        date(1990, 5, 20),
    )
    assert zhang.tag_names == "VIP, 展会"
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["VIP", "展会"]
    assert zhang.marketing_consent is True
    assert zhang.marketing_consent_channel == Customer.ConsentChannel.IMPORT
    li = Customer.objects.get(name="李四")
    assert (li.mobile, li.birthday, li.marketing_consent) == ("13900139000", date(2024, 1, 5), False)
    wang = Customer.objects.get(name="王五")
    assert wang.company == "华为技术有限公司"
    assert wang.birthday == date(2024, 1, 5)
    assert list(wang.contacts.values_list("name", "is_primary")) == [("联系人甲", True), ("联系人乙", False)]
    assert Customer.objects.get(name="赵六").mobile == "13800138002"
    # Derived columns are right, so search and duplicate checks find the imported rows.
    assert Customer.objects.filter(search_grams__has_gram="王五").exists()
    assert zhang.owner == rep and zhang.team == rep.team
    assert zhang.history.count() == 1


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_chinese_encodings(rep, encoding):
    content = csv_bytes([["客户名称", "手机号码", "城市"], ["张三", "13800138000", "上海市"]], encoding)
    job = run(rep, content, name="客户.csv")
    assert job.imported == 1
    assert Customer.objects.get().city == "上海市"


# --- counts, problems and the error report ------------------------------------------------------


def test_every_row_ends_in_exactly_one_of_four_counts_with_reasons(rep, other_rep):
    CustomerFactory(name="已有客户", mobile="13700137000", owner=rep)
    CustomerFactory(name="别人的客户", mobile="13600136000", owner=other_rep)
    rows = [
        ["姓名", "手机", "邮箱", "生日"],
        ["新客户", "13800138000", "", ""],  # imported
        ["已有客户", "13700137000", "", ""],  # skipped: already in the ledger
        ["重复行", "13800138000", "", ""],  # skipped: same as row 2
        ["坏手机", "12345", "", ""],  # rejected: phone
        ["坏邮箱", "", "not-an-email", ""],  # rejected: email
        ["坏日期", "", "", "明天"],  # rejected: date
        ["", "13500135000", "", ""],  # rejected: no name
        ["冲突", "13600136000", "", ""],  # skipped: someone else's customer
    ]
    job = run(rep, xlsx(rows))
    assert (job.imported, job.updated, job.skipped, job.rejected) == (1, 0, 3, 4)
    assert_counts_add_up(job, 8)
    issues = {issue.row_number: issue for issue in job.issues.all()}
    assert sorted(issues) == [3, 4, 5, 6, 7, 8, 9]
    assert issues[5].column == "手机" and issues[5].value == "12345" and issues[5].outcome == "rejected"
    assert issues[6].column == "邮箱"
    assert "row 2" in issues[4].message
    # Another owner's customer: who owns it and since when, never its details.
    assert "other_rep" in issues[9].message or str(other_rep) in issues[9].message
    assert "别人的客户" not in issues[9].message and "13600136000" not in issues[9].message
    assert Customer.objects.filter(name="冲突").count() == 0


def test_error_report_has_the_original_rows_and_can_be_corrected_and_imported_again(rep):
    rows = [
        ["姓名", "手机", "备注"],
        ["好", "13800138000", ""],
        ["坏", "12345", "@SUM(1)"],
        ["也坏", "abc", "x"],
    ]
    job = run(rep, xlsx(rows))
    report = load_workbook(io.BytesIO(job.error_report.read()), read_only=True)
    lines = list(report.worksheets[0].iter_rows(values_only=True))
    assert lines[0][:3] == ("姓名", "手机", "备注")
    assert [line[:3] for line in lines[1:]] == [("坏", "12345", "'@SUM(1)"), ("也坏", "abc", "x")]
    assert "Row 3" in lines[1][3] and "手机" in lines[1][3]
    # The user corrects the phone numbers in the report and imports it again.
    fixed = [list(lines[0][:3]), ["坏", "13900139000", "ok"], ["也坏", "13700137000", "x"]]
    again = run(rep, xlsx(fixed))
    assert (again.imported, again.rejected) == (2, 0)
    assert Customer.objects.count() == 3


def test_dry_run_writes_nothing_and_predicts_the_real_run(rep):
    existing = CustomerFactory(name="已有", mobile="13700137000", owner=rep)
    before = snapshot(existing)
    counts_before = (
        Customer.objects.count(),
        Contact.objects.count(),
        Tag.objects.count(),
        Customer.history.count(),
    )
    rows = [
        ["姓名", "手机", "城市", "标签", "联系人"],
        ["新", "13800138000", "", "新标签", "甲"],
        ["已有", "13700137000", "上海", "", ""],
        ["坏", "1", "", "", ""],
    ]
    content = xlsx(rows)
    dry = run(rep, content, dry_run=True, on_duplicate="update")
    assert dry.status == ImportJob.Status.VALIDATED
    assert (
        Customer.objects.count(),
        Contact.objects.count(),
        Tag.objects.count(),
        Customer.history.count(),
    ) == counts_before
    assert snapshot(existing) == before
    assert not AuditLog.objects.filter(action=AuditLog.Action.IMPORT).exists()
    real = importing.import_run(job=dry)
    assert (
        (real.imported, real.updated, real.skipped, real.rejected)
        == (dry.imported, dry.updated, dry.skipped, dry.rejected)
        == (1, 1, 0, 1)
    )


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_skip_leaves_the_existing_customer_alone(rep):
    existing = CustomerFactory(name="张三", mobile="13800138000", owner=rep)
    before = snapshot(existing)
    job = run(rep, xlsx([["姓名", "手机", "城市"], ["张三", "13800138000", "北京"]]), on_duplicate="skip")
    assert (job.imported, job.skipped) == (0, 1)
    assert snapshot(existing) == before


def test_duplicate_update_fills_in_non_empty_cells_with_history(rep):
    existing = CustomerFactory(name="张三", mobile="13800138000", owner=rep, city="上海", company="甲公司")
    job = run(
        rep,
        xlsx([["姓名", "手机", "城市", "公司", "标签"], ["张三", "+86 138 0013 8000", "北京", "", "重点"]]),
        on_duplicate="update",
    )
    assert (job.imported, job.updated) == (0, 1)
    existing.refresh_from_db()
    assert (existing.city, existing.company, existing.tag_names) == ("北京", "甲公司", "重点")
    latest = existing.history.first()
    assert latest.history_change_reason == "import" and latest.history_user == rep


def test_duplicate_create_makes_a_new_customer(rep):
    CustomerFactory(name="张三", mobile="13800138000", owner=rep)
    job = run(rep, xlsx([["姓名", "手机"], ["张三", "13800138000"]]), on_duplicate="create")
    assert job.imported == 1
    assert Customer.objects.filter(name="张三").count() == 2


@pytest.mark.parametrize(
    ("match_on", "imported"),
    [(["phone"], 0), (["email"], 1), (["name_company"], 1), (["phone", "email", "name_company"], 0)],
)
def test_match_on_chooses_how_existing_customers_are_recognised(rep, match_on, imported):
    CustomerFactory(name="张三", mobile="13800138000", email="z@example.com", owner=rep)
    job = run(
        rep, xlsx([["姓名", "手机", "邮箱"], ["张三", "13800138000", "other@example.com"]]), match_on=match_on
    )
    assert job.imported == imported


def test_name_and_company_match(rep):
    CustomerFactory(name="王经理", company="华为", owner=rep)
    job = run(
        rep, xlsx([["姓名", "公司"], ["王经理", "华为"], ["王经理", "中兴"]]), match_on=["name_company"]
    )
    assert (job.imported, job.skipped) == (1, 1)


# --- ownership and scope ------------------------------------------------------------------------


def test_a_rep_imports_customers_as_their_own_and_cannot_name_other_owners(rep, teammate):
    job = run(rep, xlsx([["姓名", "负责人"], ["甲", ""], ["乙", "teammate"], ["丙", "rep"]]))
    assert (job.imported, job.rejected) == (2, 1)
    assert set(Customer.objects.values_list("owner__username", flat=True)) == {"rep"}
    issue = job.issues.get()
    assert issue.column == "负责人" and issue.value == "teammate"


def test_a_manager_assigns_owners_by_username_or_full_name(manager, rep):
    rep.first_name, rep.last_name = "小明", "李"
    rep.save()
    job = run(manager, xlsx([["姓名", "负责人"], ["甲", "rep"], ["乙", "李小明"], ["丙", ""]]))
    assert job.imported == 3
    owners = dict(Customer.objects.values_list("name", "owner__username"))
    assert owners == {"甲": "rep", "乙": "rep", "丙": "manager"}
    assert Customer.objects.get(name="甲").team == rep.team


def test_update_never_touches_customers_the_user_may_not_see(rep, other_rep):
    theirs = CustomerFactory(name="他的", mobile="13800138000", owner=other_rep)
    before = snapshot(theirs)
    job = run(rep, xlsx([["姓名", "手机", "城市"], ["他的", "13800138000", "北京"]]), on_duplicate="update")
    assert (job.updated, job.skipped) == (0, 1)
    assert snapshot(theirs) == before


# --- undo ------------------------------------------------------------------------------------------


def test_undo_deletes_what_was_created_and_restores_exactly_what_was_updated(rep):
    tag = TagFactory(name="老标签")
    existing = CustomerFactory(name="张三", mobile="13800138000", owner=rep, city="上海", tags=[tag])
    make_contact(existing, name="原联系人", is_primary=True)
    before = snapshot(existing)
    rows = [
        ["姓名", "手机", "城市", "邮箱", "标签", "联系人"],
        ["张三", "13800138000", "北京", "z@example.com", "新标签", "新联系人"],
        ["李四", "13900139000", "广州", "", "新标签", "李联系人"],
    ]
    job = run(rep, xlsx(rows), on_duplicate="update")
    assert (job.imported, job.updated) == (1, 1)
    assert snapshot(existing) != before
    counts = importing.import_undo(job=job, user=rep)
    assert counts == {"deleted": 1, "restored": 1, "conflicts": 0, "kept": 0}
    assert snapshot(existing) == before
    assert not Customer.objects.filter(name="李四").exists()
    assert not Contact.objects.filter(name__in=["新联系人", "李联系人"]).exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE and job.undone_by == rep
    entry = AuditLog.objects.get(action=AuditLog.Action.IMPORT_UNDO)
    assert entry.actor == rep and entry.details["deleted"] == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.IMPORT, object_id=str(job.pk)).exists()
    with pytest.raises(Exception, match="no longer"):
        importing.import_undo(job=job, user=rep)


def test_undo_keeps_changes_made_since_and_customers_with_work_since(rep):
    existing = CustomerFactory(name="张三", mobile="13800138000", owner=rep, city="上海", district="浦东")
    job = run(
        rep,
        xlsx(
            [
                ["姓名", "手机", "城市", "区"],
                ["张三", "13800138000", "北京", "朝阳"],
                ["李四", "13900139000", "", ""],
            ]
        ),
        on_duplicate="update",
    )
    Customer.objects.filter(pk=existing.pk).update(city="深圳")  # edited by someone since
    li = Customer.objects.get(name="李四")
    TierChange.objects.create(
        customer=li, from_tier="potential", to_tier="active", source=TierChange.Source.MANUAL
    )
    counts = importing.import_undo(job=job, user=rep)
    assert counts == {"deleted": 0, "restored": 1, "conflicts": 1, "kept": 1}
    existing.refresh_from_db()
    assert (existing.city, existing.district) == ("深圳", "浦东")
    assert Customer.objects.filter(pk=li.pk).exists()


def test_undo_is_offered_only_within_the_window(rep, settings):
    settings.IMPORT_UNDO_HOURS = 24
    job = run(rep, xlsx([["姓名"], ["张三"]]))
    assert importing.can_undo(job)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert not importing.can_undo(job)
        with pytest.raises(Exception, match="no longer"):
            importing.import_undo(job=job, user=rep)
    assert Customer.objects.filter(name="张三").exists()


def test_a_dry_run_cannot_be_undone(rep):
    job = run(rep, xlsx([["姓名"], ["张三"]]), dry_run=True)
    assert not importing.can_undo(job)


# --- template --------------------------------------------------------------------------------------


def test_template_has_notes_drop_downs_and_an_example_row_that_imports(rep):
    importer = importing.get_importer("customers")
    content = importing.template_workbook(importer)
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    assert headers[0] in ("名称", "name")
    assert sheet.cell(
        row=1, column=headers.index(next(h for h in headers if h.startswith(("手机", "mobile")))) + 1
    ).comment
    validations = sheet.data_validations.dataValidation
    assert len(validations) == sum(1 for column in importer.columns if column.choices)
    assert workbook.worksheets[1].sheet_state == "hidden"
    job = run(rep, content, dry_run=True)
    assert (job.imported, job.rejected) == (1, 0), list(job.issues.values_list("message", flat=True))


def test_template_is_in_the_users_language():
    from django.utils import translation

    importer = importing.get_importer("customers")
    with translation.override("en"):
        english = load_workbook(io.BytesIO(importing.template_workbook(importer))).worksheets[0]
    with translation.override("zh-hans"):
        chinese = load_workbook(io.BytesIO(importing.template_workbook(importer))).worksheets[0]
    assert english.cell(row=1, column=1).value == "name"
    assert chinese.cell(row=1, column=1).value != english.cell(row=1, column=1).value


# --- command ----------------------------------------------------------------------------------------


def test_command_prints_the_four_counts_last_and_writes_the_error_report(rep, tmp_path, capsys):
    path = tmp_path / "客户.xlsx"
    path.write_bytes(xlsx([["姓名", "手机"], ["张三", "13800138000"], ["坏", "1"]]))
    errors = tmp_path / "errors.xlsx"
    call_command("import_customers", str(path), "--user", "rep", "--errors-out", str(errors))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "imported=1 updated=0 skipped=0 rejected=1"
    assert errors.exists()
    assert Customer.objects.get().owner == rep


def test_command_dry_run_writes_nothing(rep, tmp_path, capsys):
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["姓名", "手机"], ["张三", "13800138000"]], "gbk"))
    call_command("import_customers", str(path), "--user", "rep", "--dry-run")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "imported=1 updated=0 skipped=0 rejected=0"
    assert Customer.objects.count() == 0


def test_command_on_duplicate_update_and_owner(manager, rep, tmp_path, capsys):
    CustomerFactory(name="张三", mobile="13800138000", owner=rep, city="上海")
    path = tmp_path / "c.xlsx"
    path.write_bytes(
        xlsx([["姓名", "手机", "城市"], ["张三", "13800138000", "北京"], ["李四", "13900139000", ""]])
    )
    call_command(
        "import_customers", str(path), "--user", "manager", "--owner", "rep", "--on-duplicate", "update"
    )
    assert capsys.readouterr().out.strip().splitlines()[-1] == "imported=1 updated=1 skipped=0 rejected=0"
    assert Customer.objects.get(name="李四").owner == rep


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02 binary", xlsx([["a", "b"], [1, 2]])],
    ids=["empty", "not a spreadsheet", "no header"],
)
def test_command_exits_2_for_unusable_files(rep, tmp_path, capsys, content):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_customers", str(path), "--user", "rep")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip()
    assert ImportJob.objects.count() == 0 and Customer.objects.count() == 0


def test_command_exits_2_for_a_missing_file(rep, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_customers", "/nonexistent/file.xlsx", "--user", "rep")
    assert exit_info.value.code == 2


def test_imported_rows_are_stored_like_the_service_stores_them(rep):
    """The COPY path: encrypted columns hold ciphertext, the history has the "created" row,
    the id sequence moved on (a customer created afterwards gets a new id)."""
    from django.db import connection

    run(rep, xlsx([["姓名", "手机", "邮箱"], ["张三", "13800138000", "z@example.com"]]))
    customer = Customer.objects.get()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT mobile, email, search_text FROM customers_customer WHERE id = %s", [customer.pk]
        )
        mobile, email, search_text = cursor.fetchone()
    assert "13800138000" not in mobile and "example" not in email
    assert (customer.mobile, customer.email) == ("13800138000", "z@example.com")
    assert "zhangsan" in search_text and "zs" in search_text
    record = customer.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == ("+", rep, "import")
    assert record.mobile == "13800138000"
    later = CustomerFactory(name="李四", owner=rep)
    assert later.pk > customer.pk
    assert Customer.objects.filter(search_grams__has_gram="张三").get() == customer
