"""Reading uploads and cleaning messy cells (core/spreadsheets.py)."""

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import xlsxwriter
from django.core.exceptions import ValidationError

from core.spreadsheets import (
    UnusableFile,
    clean_bool,
    clean_date,
    clean_datetime,
    clean_decimal,
    clean_phone_text,
    clean_text,
    neutralise,
    normalise_header,
    open_table,
)


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English."""
    from django.utils import translation

    with translation.override("en"):
        yield


def _xlsx(build) -> io.BytesIO:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out)
    build(workbook)
    workbook.close()
    out.seek(0)
    return out


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (13800138000.0, "13800138000"),  # a number cell, as Excel stores it
        (13800138000, "13800138000"),
        ("13800138000.0", "13800138000"),
        ("1.3800138000E+10", "13800138000"),  # scientific notation that kept every digit
        ("１３８００１３８０００", "13800138000"),  # full-width digits
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("(010) 8888-6666", "01088886666"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_phone_cells_become_digits(cell, expected):
    assert clean_phone_text(cell) == expected


def test_phone_in_scientific_notation_that_lost_digits_is_refused_with_the_reason():
    with pytest.raises(ValidationError) as error:
        clean_phone_text("1.38E+10")
    assert "scientific notation" in error.value.messages[0]


@pytest.mark.parametrize(
    "cell",
    [
        "2024-01-05",
        "2024/1/5",
        "2024.1.5",
        "2024年1月5日",
        "2024 年 1 月 5 日",
        "20240105",
        45296,  # Excel serial number
        45296.0,
        "45296",
        date(2024, 1, 5),
        datetime(2024, 1, 5, 13, 30),
        "2024-01-05 13:30:00",
    ],
)
def test_dates_in_every_usual_spelling(cell):
    assert clean_date(cell) == date(2024, 1, 5)


@pytest.mark.parametrize("cell", ["2024-02-30", "next week", "5/1/2024x", True])
def test_bad_dates_are_refused(cell):
    with pytest.raises(ValidationError):
        clean_date(cell)


def test_datetimes_keep_their_time():
    assert clean_datetime("2024/1/5 09:15") == datetime(2024, 1, 5, 9, 15)
    assert clean_datetime(datetime(2024, 1, 5, 9, 15, 7, 999)) == datetime(2024, 1, 5, 9, 15, 7)
    assert clean_datetime("2024-01-05") == datetime(2024, 1, 5)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("¥99", Decimal("99.00")),
        ("12元", Decimal("12.00")),
        (0.1, Decimal("0.10")),
        ("", None),
    ],
)
def test_decimals(cell, expected):
    assert clean_decimal(cell) == expected


def test_decimal_refuses_absurdly_large_numbers():
    with pytest.raises(ValidationError):
        clean_decimal("1e30")
    with pytest.raises(ValidationError):
        clean_decimal(1e300)


def test_decimal_refuses_text_and_below_minimum():
    with pytest.raises(ValidationError):
        clean_decimal("abc")
    with pytest.raises(ValidationError):
        clean_decimal("-1", minimum=Decimal("0"))


@pytest.mark.parametrize(
    ("cell", "expected"), [("是", True), ("否", False), ("Yes", True), ("n", False), (1, True), ("", None)]
)
def test_booleans_in_both_languages(cell, expected):
    assert clean_bool(cell) == expected


def test_text_loses_stray_spaces_and_respects_max_length():
    assert clean_text("  张\u3000 伟  ") == "张 伟"
    assert clean_text(12.0) == "12"
    with pytest.raises(ValidationError):
        clean_text("x" * 11, max_length=10)
    # Control characters cannot be stored (NUL) nor written back to a worksheet.
    assert clean_text("Ann\x00\x07 Lee\x1b") == "Ann Lee"


def test_headers_compare_without_noise():
    assert normalise_header("手机号码（必填）") == "手机号码"
    assert normalise_header(" E-mail * ") == "email"
    assert normalise_header("Full Name") == "fullname"


def test_formula_injection_is_neutralised():
    assert neutralise("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("张三") == "张三"
    assert neutralise(5) == 5
    assert neutralise("a\x01b") == "ab"
    assert neutralise("\x02=1+1") == "'=1+1"


# --- reading files ---------------------------------------------------------------------


def test_xlsx_rows_fill_merged_cells_and_give_cached_formula_values():
    def build(workbook):
        sheet = workbook.add_worksheet()
        sheet.merge_range("A1:C1", "名单")
        sheet.write_row(1, 0, ["姓名", "公司"])
        sheet.write(2, 0, "张三")
        sheet.merge_range("B3:B4", "华为")
        sheet.write(3, 0, "李四")
        sheet.write_formula(4, 0, '=UPPER("wang")', None, "WANG")

    rows = list(open_table(_xlsx(build)).rows())
    assert rows[0] == (1, ["名单", "名单", "名单"])
    assert rows[2] == (3, ["张三", "华为"])
    assert rows[3] == (4, ["李四", "华为"])
    assert rows[4][1][0] == "WANG"


def test_xlsx_first_non_empty_sheet_is_read():
    def build(workbook):
        workbook.add_worksheet("说明")
        workbook.add_worksheet("数据").write_row(0, 0, ["姓名"])

    table = open_table(_xlsx(build))
    assert list(table.rows()) == [(1, ["姓名"])]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(encoding):
    text = "姓名,手机\r\n张三,13800138000\r\n"
    table = open_table(io.BytesIO(text.encode(encoding)))
    assert table.format == "csv"
    assert list(table.rows()) == [(1, ["姓名", "手机"]), (2, ["张三", "13800138000"])]


def test_csv_with_semicolons_or_tabs():
    table = open_table(io.BytesIO("姓名;手机\n张三;138\n".encode()))
    assert list(table.rows())[1] == (2, ["张三", "138"])
    table = open_table(io.BytesIO("姓名\t手机\n张三\t138\n".encode()))
    assert list(table.rows())[1] == (2, ["张三", "138"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a spreadsheet"),
        (b"PK\x03\x04not really a zip", "could not be read"),
        # Renamed documents that contain no NUL byte near the start (so not caught as binary).
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", "not a spreadsheet"),
        (b"{\\rtf1\\ansi hello}", "not a spreadsheet"),
        ("\ufeff <!DOCTYPE html><html><table><tr><td>姓名</td></tr></table>".encode(), "web page"),
        (b"<table><tr><td>name</td></tr></table>", "web page"),
        (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>',
            "web page",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\x00" * 100
            + "EncryptionInfo".encode("utf-16-le")
            + b"\x00" * 100,
            "password",
        ),
    ],
)
def test_unusable_files_get_a_reason(content, message):
    with pytest.raises(UnusableFile) as error:
        open_table(io.BytesIO(content))
    assert message in str(error.value)


def test_workbook_without_data_is_unusable():
    with pytest.raises(UnusableFile):
        open_table(_xlsx(lambda workbook: workbook.add_worksheet()))


def test_a_cell_past_the_csv_field_limit_is_a_reason_not_a_crash():
    # Regression: csv.Error ("field larger than field limit") escaped as a server error.
    table = open_table(io.BytesIO(b"name,phone\n" + b"x" * 200_000 + b",1\n"))
    with pytest.raises(UnusableFile, match="longer than 131072 characters"):
        list(table.rows())
