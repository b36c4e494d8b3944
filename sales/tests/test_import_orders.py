"""Importing orders from spreadsheets: lines grouped into orders, exact totals, customers
found only among the importer's own, all-or-nothing orders, duplicates, dry runs, undo, the
command line and the permission."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
import xlsxwriter
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from core.importing import get_importer, import_run, import_undo, importers_for, job_prepare
from core.models import ImportItem, ImportJob
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from sales import services
from sales.models import Order, OrderLine
from sales.tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are asserted in English (the users' language is otherwise the default zh-hans)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


S = Customer.LifecycleStage
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
HEADER = [
    "订单号",
    "客户",
    "客户手机",
    "下单日期",
    "状态",
    "产品",
    "产品编码",
    "数量",
    "单价",
    "折扣",
    "备注",
]


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def importer_rep(rep):
    rep.language = "en"
    rep.save(update_fields=["language"])
    return rep


@pytest.fixture
def customer(importer_rep):
    return CustomerFactory(name="王小明", owner=importer_rep, mobile="13800000001", email="wang@example.com")


@pytest.fixture
def chair(db):
    return make_product(name="办公椅", sku="CH-01", unit_price=Decimal("19.99"))


@pytest.fixture
def lamp(db):
    return make_product(name="台灯", sku="LA-01", unit_price=Decimal("10.05"))


def xlsx(rows: list[list], header: list[str] = HEADER) -> bytes:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet()
    for r, row in enumerate([header, *rows]):
        for c, value in enumerate(row):
            if value not in (None, ""):
                sheet.write(r, c, value)
    workbook.close()
    return out.getvalue()


def line(number="", customer="王小明", phone="", date="2026-03-02", status="已付款", product="办公椅", code="", quantity=1, price="", discount="", notes=""):  # fmt: skip
    return [number, customer, phone, date, status, product, code, quantity, price, discount, notes]


def run(
    user, content: bytes, *, name="orders.xlsx", dry_run=False, on_duplicate="skip", owner=None
) -> ImportJob:
    job = ImportJob(
        kind="orders",
        created_by=user,
        original_name=name,
        on_duplicate=on_duplicate,
        default_owner=owner,
    )
    job.file.save(name, ContentFile(content), save=False)
    job.save()
    job_prepare(job=job)
    job = import_run(job=job, dry_run=dry_run)
    assert job.status == (ImportJob.Status.VALIDATED if dry_run else ImportJob.Status.DONE), job.error
    return job


def problems(job: ImportJob) -> dict[int, str]:
    return {issue.row_number: issue.message for issue in job.issues.all()}


def assert_counts_add_up(job: ImportJob, rows: int) -> None:
    assert job.imported + job.updated + job.skipped + job.rejected == rows == job.total_rows


def stats(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return (
        customer.order_count,
        customer.total_spend,
        customer.first_purchase_at,
        customer.last_purchase_at,
        customer.lifecycle_stage,
    )


# --- grouping and totals ---------------------------------------------------------------------


def test_consecutive_rows_with_one_order_number_make_one_order_with_an_exact_total(
    importer_rep, customer, chair, lamp
):
    content = xlsx(
        [
            line("A-1", quantity=3, discount=15),  # 19.99 × 3 − 15% = 50.9745 → 50.97
            line("A-1", product="", code="LA-01", quantity=1.5),  # 10.05 × 1.5 = 15.075 → 15.08
            line("A-2", quantity=1, price="18.5", status="Pending"),
        ]
    )
    job = run(importer_rep, content)

    assert (job.imported, job.rejected) == (3, 0)
    assert_counts_add_up(job, 3)
    first = Order.objects.get(number="A-1")
    assert first.total == Decimal("66.05")
    assert [(line.product, line.quantity, line.unit_price, line.discount) for line in first.lines.all()] == [
        (chair, Decimal("3.000"), Decimal("19.99"), Decimal("15.00")),
        (lamp, Decimal("1.500"), Decimal("10.05"), Decimal("0.00")),
    ]
    assert first.total == sum((line.line_total for line in first.lines.all()), Decimal("0"))
    assert (first.customer, first.status, first.owner, first.created_by) == (
        customer,
        Order.Status.PAID,
        importer_rep,
        importer_rep,
    )
    assert first.ordered_at == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    second = Order.objects.get(number="A-2")
    assert (second.status, second.total) == (Order.Status.PENDING, Decimal("18.50"))


def test_rows_without_an_order_number_are_one_line_orders_numbered_like_the_order_form(
    importer_rep, customer, chair
):
    job = run(importer_rep, xlsx([line(), line(quantity=2)]))

    assert job.imported == 2
    numbers = sorted(Order.objects.values_list("number", flat=True))
    assert len(numbers) == 2
    for order in Order.objects.all():
        assert order.number == f"SO202603{order.pk:07d}"
        assert order.lines.count() == 1


def test_an_order_is_never_split_between_batches(settings, importer_rep, customer, chair):
    settings.IMPORT_BATCH_SIZE = 2
    rows = [line("B-1", quantity=q) for q in (1, 2, 3)] + [line("B-2"), line(), line()]
    job = run(importer_rep, xlsx(rows))

    assert job.imported == 6
    assert Order.objects.get(number="B-1").lines.count() == 3
    assert Order.objects.count() == 4


def test_the_customers_statistics_and_lifecycle_follow_the_imported_orders(importer_rep, chair):
    prospect = CustomerFactory(name="新客户", owner=importer_rep)
    assert prospect.lifecycle_stage == S.PROSPECT
    content = xlsx(
        [
            line("C-1", customer="新客户", date="2026-03-02", quantity=2),
            line("C-2", customer="新客户", date="2026-03-05", status="Pending"),
        ]
    )
    run(importer_rep, content)

    order_count, spend, first, last, stage = stats(prospect)
    assert (order_count, spend) == (2, Decimal("59.97"))
    assert first == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert last == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
    assert stage == S.NEW  # the first paid order; the pending one is not a purchase


def test_the_queries_of_an_import_do_not_grow_with_its_customers(importer_rep, chair):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    names = [f"客户{n}" for n in range(8)]
    for name in names:
        CustomerFactory(name=name, owner=importer_rep)
    counts = []
    for batch in (names[:2], names[2:]):
        with CaptureQueriesContext(connection) as queries:
            run(importer_rep, xlsx([line(customer=name) for name in batch]))
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_statistics_of_many_customers_are_refreshed_like_one_customers(importer_rep, chair):
    from sales import services

    buyer = CustomerFactory(name="买家", owner=importer_rep)
    flagged = CustomerFactory(name="流失预警", owner=importer_rep)
    idle = CustomerFactory(name="未下单", owner=importer_rep)
    Customer.objects.filter(pk=flagged.pk).update(
        churn_flagged_at=datetime(2026, 3, 1, tzinfo=UTC), churn_risk_score=80, churn_risk_reason="久未下单"
    )
    for customer in (buyer, flagged):
        Order.objects.create(
            customer=customer, number=f"N{customer.pk}", status=Order.Status.PAID, total="12.50"
        )
    services.customers_refresh_purchase_stats(customer_ids=[idle.pk, flagged.pk, buyer.pk])
    many = [stats(customer) for customer in (buyer, flagged, idle)]
    flagged.refresh_from_db()
    assert (flagged.churn_flagged_at, flagged.churn_risk_score) == (None, 0)

    Customer.objects.update(order_count=0, total_spend=0, lifecycle_stage=S.PROSPECT)
    for customer in (buyer, flagged, idle):
        services.customer_refresh_purchase_stats(customer_id=customer.pk)
    assert [stats(customer) for customer in (buyer, flagged, idle)] == many
    assert many[0] == (1, Decimal("12.50"), NOW, NOW, S.NEW)
    assert many[2] == (0, Decimal("0.00"), None, None, S.PROSPECT)


def test_status_and_channel_are_read_in_either_language(importer_rep, customer, chair):
    header = [*HEADER, "渠道"]
    rows = [
        [*line("D-1", status="Paid"), "微信"],
        [*line("D-2", status="已发货"), "Online shop"],
        [*line("D-3", status="shipped"), ""],
    ]
    run(importer_rep, xlsx(rows, header))

    assert dict(Order.objects.values_list("number", "status")) == {
        "D-1": "paid",
        "D-2": "shipped",
        "D-3": "shipped",
    }
    assert dict(Order.objects.values_list("number", "channel")) == {
        "D-1": "wechat",
        "D-2": "online",
        "D-3": "sales_rep",
    }


def test_a_gbk_csv_from_chinese_excel_is_imported(importer_rep, customer, chair):
    text = "订单号,客户,下单日期,状态,产品,数量\r\nE-1,王小明,2026/3/2,已付款,办公椅,2\r\nE-1,王小明,2026/3/2,已付款,办公椅,1\r\n"
    job = run(importer_rep, text.encode("gbk"), name="orders.csv")

    assert job.imported == 2
    assert Order.objects.get(number="E-1").total == Decimal("59.97")


# --- customers and products --------------------------------------------------------------------


def test_the_customer_is_found_by_phone_else_email_else_name(importer_rep, customer, chair):
    header = ["订单号", "客户", "客户手机", "客户邮箱", "下单日期", "产品", "数量"]
    rows = [
        ["F-1", "", "138 0000 0001", "", "2026-03-02", "办公椅", 1],
        ["F-2", "", "", "WANG@example.com", "2026-03-02", "办公椅", 1],
        ["F-3", "王小明", "", "", "2026-03-02", "办公椅", 1],
        # The phone decides, whatever the name cell says.
        ["F-4", "Somebody else", "13800000001", "", "2026-03-02", "办公椅", 1],
    ]
    job = run(importer_rep, xlsx(rows, header))

    assert job.imported == 4, problems(job)
    assert set(Order.objects.values_list("customer", flat=True)) == {customer.pk}


def test_a_customer_of_someone_else_is_refused_without_revealing_their_details(
    importer_rep, other_rep, chair
):
    secret = CustomerFactory(name="李机密", company="保密公司", owner=other_rep, mobile="13900000009")
    header = ["订单号", "客户", "客户手机", "下单日期", "产品", "数量"]
    rows = [
        ["G-1", "", "13900000009", "2026-03-02", "办公椅", 1],
        ["G-2", "李机密", "", "2026-03-02", "办公椅", 1],
    ]
    job = run(importer_rep, xlsx(rows, header))

    assert (job.imported, job.rejected) == (0, 2)
    for message in problems(job).values():
        assert message == (
            f"This customer is owned by {other_rep} since 2026-03-10; you may not record orders for them."
        )
        for detail in ("李机密", "保密公司", "13900000009", f"{secret.pk})", f"no. {secret.pk}"):
            assert detail not in message
    assert not Order.objects.exists()


def test_an_unknown_customer_or_several_of_the_same_name_are_refused(importer_rep, chair):
    CustomerFactory(name="张伟", owner=importer_rep, mobile="13800000011")
    CustomerFactory(name="张伟", owner=importer_rep, mobile="13800000012")
    job = run(importer_rep, xlsx([line("H-1", customer="没有这个人"), line("H-2", customer="张伟")]))

    assert problems(job) == {
        2: "No customer of yours matches this row's name, phone or email. Add or import the customer first.",
        3: "Several of your customers match “张伟”; give a detail that tells them apart (phone, email or company).",
    }


def test_an_unknown_product_is_refused(importer_rep, customer, chair):
    job = run(importer_rep, xlsx([line("I-1", product="不存在的产品"), line("I-2", product="", code="NOPE")]))

    assert problems(job) == {2: "No product is named “不存在的产品”.", 3: "No product has the code “NOPE”."}
    assert job.issues.get(row_number=3).column == "产品编码"


# --- all or nothing ----------------------------------------------------------------------------


def test_one_bad_line_rejects_the_whole_order_and_says_why(importer_rep, customer, chair):
    rows = [
        line("J-1"),
        line("J-1", product="不存在的产品"),
        line("J-1"),
        line("J-2"),
        line("J-2", quantity="很多"),  # rejected while the cells are read
        line("J-3"),
    ]
    job = run(importer_rep, xlsx(rows))

    other_line = "Another line of this order (row {row}) was rejected, so the whole order is left out."
    issues = problems(job)
    assert issues[2] == issues[4] == other_line.format(row=3)
    assert issues[3] == "No product is named “不存在的产品”."
    assert issues[5] == other_line.format(row=6)
    assert issues[6] == "Not a number."
    assert (job.imported, job.rejected) == (1, 5)
    assert_counts_add_up(job, 6)
    assert list(Order.objects.values_list("number", flat=True)) == ["J-3"]


def test_a_bad_line_rejects_its_order_also_across_a_batch_boundary(settings, importer_rep, customer, chair):
    settings.IMPORT_BATCH_SIZE = 1
    job = run(importer_rep, xlsx([line("K-1"), line("K-1", quantity=-1), line("K-1"), line("K-2")]))

    assert (job.imported, job.rejected) == (1, 3)
    assert list(Order.objects.values_list("number", flat=True)) == ["K-2"]


def test_lines_that_disagree_on_the_customer_or_date_reject_the_order(importer_rep, customer, chair):
    CustomerFactory(name="赵六", owner=importer_rep)
    rows = [line("L-1"), line("L-1", customer="赵六"), line("L-2"), line("L-2", date="2026-03-03")]
    job = run(importer_rep, xlsx(rows))

    issues = problems(job)
    assert issues[3] == "The lines of this order disagree on “customer” (row 2 and row 3)."
    assert issues[5] == "The lines of this order disagree on “ordered at” (row 4 and row 5)."
    assert job.rejected == 4


def test_an_order_number_repeated_further_down_the_file_is_refused(importer_rep, customer, chair):
    job = run(importer_rep, xlsx([line("M-1"), line("M-2"), line("M-1")]))

    assert problems(job) == {
        4: "Order number M-1 is already on row 2: the lines of one order must be on consecutive rows."
    }
    assert Order.objects.get(number="M-1").lines.count() == 1


def test_a_number_the_crm_would_give_a_future_order_is_refused(importer_rep, customer, chair):
    job = run(importer_rep, xlsx([line("SO2026039999999")]))

    assert "are given by the CRM" in problems(job)[2]


def test_a_rep_may_not_make_a_colleague_the_owner_but_a_manager_may(importer_rep, manager, teammate, chair):
    header = [*HEADER, "负责人"]
    CustomerFactory(name="王小明", owner=importer_rep)
    job = run(importer_rep, xlsx([[*line("N-1"), "teammate"]], header))
    assert problems(job) == {2: "“teammate” is not a colleague you may make the owner of orders."}

    run(manager, xlsx([[*line("N-2"), "teammate"]], header))
    assert Order.objects.get(number="N-2").owner == teammate


# --- duplicates --------------------------------------------------------------------------------


@pytest.fixture
def imported(importer_rep, customer, chair, lamp):
    """Order P-1 (two lines) imported once."""
    run(importer_rep, xlsx([line("P-1", quantity=2), line("P-1", product="台灯")]))
    return Order.objects.get(number="P-1")


def test_importing_the_same_file_again_skips_the_orders_it_finds(importer_rep, imported):
    job = run(importer_rep, xlsx([line("P-1", quantity=2), line("P-1", product="台灯")]))

    assert (job.imported, job.skipped) == (0, 2)
    assert problems(job) == {2: "Order P-1 is already recorded.", 3: "Order P-1 is already recorded."}
    assert Order.objects.count() == 1


def test_update_replaces_the_orders_details_and_lines_and_remembers_both(importer_rep, customer, imported):
    content = xlsx(
        [
            line("P-1", status="已完成", quantity=5, notes="补录"),
            line("P-1", status="已完成", product="台灯", quantity=2),
        ]
    )
    job = run(importer_rep, content, on_duplicate="update")

    assert (job.updated, job.skipped) == (2, 0)
    imported.refresh_from_db()
    assert (imported.status, imported.notes) == (Order.Status.COMPLETED, "补录")
    assert [line.quantity for line in imported.lines.all()] == [Decimal("5.000"), Decimal("2.000")]
    assert imported.total == Decimal("120.05")  # 19.99 × 5 + 10.05 × 2
    assert stats(customer)[:2] == (1, Decimal("120.05"))
    item = ImportItem.objects.get(job=job)
    assert item.object_id == imported.pk
    assert '"lines"' in item.before and '"lines"' in item.after


def test_update_with_the_same_details_skips(importer_rep, imported):
    job = run(
        importer_rep, xlsx([line("P-1", quantity=2), line("P-1", product="台灯")]), on_duplicate="update"
    )

    assert job.skipped == 2
    assert problems(job)[2] == "Order P-1 is already recorded with the same details."


def test_create_imports_a_duplicate_as_a_new_order_with_a_new_number(importer_rep, imported):
    job = run(
        importer_rep, xlsx([line("P-1", quantity=2), line("P-1", product="台灯")]), on_duplicate="create"
    )

    assert job.imported == 2
    new = Order.objects.exclude(pk=imported.pk).get()
    assert new.number == f"SO202603{new.pk:07d}"
    assert (new.lines.count(), new.total) == (2, imported.total)


def test_an_existing_order_of_someone_elses_customer_is_left_alone(importer_rep, other_rep, customer, chair):
    theirs = CustomerFactory(name="别人的客户", owner=other_rep)
    run(other_rep, xlsx([line("Q-1", customer="别人的客户")]))
    job = run(importer_rep, xlsx([line("Q-1", quantity=9)]), on_duplicate="update")

    assert problems(job) == {2: "An order with the number Q-1 exists and is not one of yours."}
    assert Order.objects.get(number="Q-1").customer == theirs


# --- dry run and undo --------------------------------------------------------------------------


def test_a_dry_run_checks_every_row_and_writes_nothing(importer_rep, customer, chair):
    make_order(customer, importer_rep, [(chair, 1)])
    before = (Order.objects.count(), OrderLine.objects.count(), stats(customer))
    job = run(
        importer_rep, xlsx([line("R-1"), line("R-1"), line("R-2", product="不存在的产品")]), dry_run=True
    )

    assert (job.imported, job.rejected) == (2, 1)
    assert_counts_add_up(job, 3)
    assert (Order.objects.count(), OrderLine.objects.count(), stats(customer)) == before
    assert not ImportItem.objects.exists()


def test_undo_deletes_created_orders_restores_updated_ones_and_the_statistics(importer_rep, chair, lamp):
    prospect = CustomerFactory(name="新客户", owner=importer_rep)
    existing = make_order(prospect, importer_rep, [(chair, 1)], status=Order.Status.PENDING)
    existing_lines = list(existing.lines.values_list("product", "quantity", "unit_price", "discount"))
    existing.refresh_from_db()
    snapshot = (existing.status, existing.ordered_at, existing.channel, existing.notes, existing.total)
    before = stats(prospect)
    content = xlsx(
        [
            line(existing.number, customer="新客户", status="已付款", quantity=4, notes="改"),
            line(existing.number, customer="新客户", product="台灯"),
            line("S-1", customer="新客户", date="2026-03-03"),
            line("S-1", customer="新客户", date="2026-03-03", product="台灯"),
        ]
    )
    job = run(importer_rep, content, on_duplicate="update")
    assert (job.updated, job.imported) == (2, 2)
    assert stats(prospect)[4] == S.EXISTING  # two paid orders now

    counts = import_undo(job=job, user=importer_rep)

    assert counts == {"deleted": 1, "restored": 1, "conflicts": 0, "kept": 0}
    assert list(Order.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert (
        existing.status,
        existing.ordered_at,
        existing.channel,
        existing.notes,
        existing.total,
    ) == snapshot
    assert list(existing.lines.values_list("product", "quantity", "unit_price", "discount")) == existing_lines
    assert stats(prospect) == before
    assert before[4] == S.PROSPECT


def test_undo_keeps_what_was_changed_since_and_counts_it(importer_rep, customer, imported, chair):
    job = run(importer_rep, xlsx([line("T-1")]))
    created = Order.objects.get(number="T-1")
    content = xlsx([line("P-1", status="已发货", quantity=7), line("P-1", status="已发货", product="台灯")])
    update = run(importer_rep, content, on_duplicate="update")
    with time_machine.travel(NOW.replace(hour=3), tick=False):
        services.order_set_status(order=created, user=importer_rep, status=Order.Status.COMPLETED)
        imported.refresh_from_db()
        services.order_set_status(order=imported, user=importer_rep, status=Order.Status.REFUNDED)

    assert import_undo(job=job, user=importer_rep) == {"deleted": 0, "restored": 0, "conflicts": 0, "kept": 1}
    assert Order.objects.filter(pk=created.pk).exists()
    # The lines go back; the status moved on since the import, so it stays (a conflict).
    counts = import_undo(job=update, user=importer_rep)
    assert counts == {"deleted": 0, "restored": 1, "conflicts": 1, "kept": 0}
    imported.refresh_from_db()
    assert [line.quantity for line in imported.lines.all()] == [Decimal("2.000"), Decimal("1.000")]
    assert (imported.status, imported.total) == (Order.Status.REFUNDED, Decimal("50.03"))


# --- command line --------------------------------------------------------------------------------


def test_the_command_imports_and_ends_with_the_four_counts(tmp_path, importer_rep, customer, chair):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(xlsx([line("U-1"), line("U-1"), line("U-2", product="不存在的产品")]))
    errors = tmp_path / "errors.xlsx"
    out, err = io.StringIO(), io.StringIO()
    call_command("import_orders", str(path), user="rep", errors_out=str(errors), stdout=out, stderr=err)

    assert out.getvalue().strip().splitlines()[-1] == "imported=2 updated=0 skipped=0 rejected=1", (
        out.getvalue(),
        err.getvalue(),
    )
    assert "row 4 rejected" in err.getvalue(), (out.getvalue(), err.getvalue())
    assert errors.read_bytes().startswith(b"PK")
    assert Order.objects.get(number="U-1").lines.count() == 2


def test_the_command_dry_run_and_duplicate_modes(tmp_path, importer_rep, imported):
    path = tmp_path / "orders.csv"
    path.write_text(
        "订单号,客户,下单日期,产品,数量\nP-1,王小明,2026-03-02,办公椅,3\nV-1,王小明,2026-03-02,办公椅,1\n"
    )
    out = io.StringIO()
    call_command("import_orders", str(path), user="rep", dry_run=True, on_duplicate="update", stdout=out)
    assert out.getvalue().splitlines()[-1] == "imported=1 updated=1 skipped=0 rejected=0"
    assert not Order.objects.filter(number="V-1").exists()

    call_command("import_orders", str(path), "--user=rep", "--on-duplicate=update", stdout=out)
    assert imported.lines.get().quantity == Decimal("3.000")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "The file is empty."),
        (b"\x00\x01\x02 binary", "This is not a spreadsheet"),
        ("姓名,年龄\n张三,3\n".encode(), "No header row was recognised"),
    ],
)
def test_the_command_exits_with_2_and_the_reason_for_an_unusable_file(
    monkeypatch, tmp_path, capsys, importer_rep, content, reason
):
    from django.core.management import execute_from_command_line

    # run_from_argv() closes the connections when it ends: keep the test's transaction open.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "import_orders", str(path), "--user", "rep"])

    assert exit_info.value.code == 2
    assert reason in capsys.readouterr().err
    assert not ImportJob.objects.exists()


def test_the_command_refuses_unknown_users_and_users_without_the_permission(tmp_path, service):
    path = tmp_path / "orders.csv"
    path.write_text("订单号,客户,下单日期,产品,数量\n")
    for username in ("nobody", "service"):
        with pytest.raises(CommandError) as error:
            call_command("import_orders", str(path), user=username)
        assert error.value.returncode == 2


# --- permission ------------------------------------------------------------------------------------


def test_only_roles_that_record_orders_may_import_them(client, rep, manager, service, admin_user):
    orders = get_importer("orders")
    for user in (rep, manager, admin_user):
        assert orders in importers_for(user)
    assert orders not in importers_for(service)

    client.force_login(service)
    assert client.get("/imports/new/?kind=orders").status_code == 403
    assert client.get("/imports/template/orders/").status_code == 403

    client.force_login(rep)
    response = client.get("/imports/new/?kind=orders")
    assert response.status_code == 200
    assert b'value="orders"' in response.content
    assert client.get("/imports/template/orders/").status_code == 200


def test_a_user_who_may_import_customers_but_not_orders_gets_no_order_import(client, rep):
    from django.contrib.auth.models import Permission

    from core.tests.factories import UserFactory

    clerk = UserFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="import_customer"))
    assert {importer.kind for importer in importers_for(clerk)} == {"customers"}
    client.force_login(clerk)
    response = client.get("/imports/new/?kind=orders")
    assert response.status_code == 200
    assert b'value="orders"' not in response.content
    assert client.get("/imports/template/orders/").status_code == 404


def test_the_template_names_the_columns_the_importer_recognises(importer_rep):
    from django.utils import translation
    from openpyxl import load_workbook

    from core.importing import template_workbook

    with translation.override("zh-hans"):
        sheet = load_workbook(io.BytesIO(template_workbook(get_importer("orders")))).worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:2] == ["订单号", "客户"]
    assert "数量 *" in headers


def test_the_wizard_imports_orders_from_upload_to_undo(client, django_capture_on_commit_callbacks, importer_rep, customer, chair):  # fmt: skip
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(importer_rep)
    upload = SimpleUploadedFile("orders.xlsx", xlsx([line("W-1"), line("W-1", quantity=2)]))
    response = client.post("/imports/new/", {"kind": "orders", "file": upload})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/mapping/"

    response = client.get(f"/imports/{job.pk}/mapping/")
    assert response.status_code == 200
    assert "match_on" not in response.context["form"].fields  # orders are matched by number
    data = {f"col_{position}": name for position, name in job.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/imports/{job.pk}/mapping/",
            {**data, "on_duplicate": "skip", "default_owner": importer_rep.pk},
        )
    job.refresh_from_db()
    assert (job.status, job.imported, Order.objects.count()) == (ImportJob.Status.VALIDATED, 2, 0)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/commit/")
    job.refresh_from_db()
    assert (job.status, job.imported) == (ImportJob.Status.DONE, 2)
    assert Order.objects.get(number="W-1").total == Decimal("59.97")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/undo/")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE
    assert not Order.objects.exists()
    assert stats(customer)[:2] == (0, Decimal("0.00"))


def test_the_order_list_offers_the_import_to_those_who_may(client, importer_rep, service):
    client.force_login(importer_rep)
    assert b'data-testid="import-orders"' in client.get("/sales/orders/").content
    client.force_login(service)
    assert b'data-testid="import-orders"' not in client.get("/sales/orders/").content
