"""Importing customers from a real .xlsx file through the wizard in a real Chromium, in
Chinese and in English."""

import io
import re
from datetime import datetime

import pytest
import xlsxwriter
from django.conf import settings
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _workbook(path) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("客户")
    sheet.merge_range("A1:D1", "2026 展会客户名单")
    sheet.write_row(1, 0, ["客户名称", "手机号码（必填）", "邮箱", "生日", "标签"])
    sheet.write_row(2, 0, ["王小明", 13812345678.0, "wxm@example.com"])
    sheet.write_datetime(2, 3, datetime(1990, 5, 20), workbook.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write(2, 4, "展会")
    sheet.write_row(3, 0, ["李小红", "１３９ ０００１ ２２２２", "", "2024年1月5日"])
    sheet.write_row(5, 0, ["坏号码", "1.38E+10"])
    workbook.close()


def _log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/customers/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/customers/")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_rep_imports_customers_from_excel(page: Page, live_server, rep, tmp_path, language):
    from customers.models import Customer

    rep.language = language
    rep.save()
    path = tmp_path / "展会客户.xlsx"
    _workbook(path)
    _log_in(page, live_server, rep)

    page.get_by_test_id("import-customers").click()
    expect(page).to_have_url(re.compile(r"/imports/new/\?kind=customers$"))
    page.locator("input[name=file]").set_input_files(str(path))
    page.get_by_test_id("upload").click()

    # The header below the merged title row is found and every column mapped.
    expect(page).to_have_url(re.compile(r"/imports/\d+/mapping/$"))
    expect(page.get_by_test_id("map-0")).to_have_value("name")
    expect(page.get_by_test_id("map-1")).to_have_value("mobile")
    expect(page.get_by_test_id("map-3")).to_have_value("birthday")
    expect(page.get_by_test_id("page-title")).to_have_text(
        "导入列与选项" if language == "zh-hans" else "Columns and options"
    )
    page.get_by_test_id("check-rows").click()

    # The check: counts and the problem row, nothing written yet.
    expect(page.get_by_test_id("count-imported")).to_have_text("2")
    expect(page.get_by_test_id("count-rejected")).to_have_text("1")
    expect(page.get_by_test_id("issues")).to_contain_text("1.38E+10")
    assert Customer.objects.count() == 0
    page.get_by_test_id("commit").click()

    expect(page.get_by_test_id("count-imported")).to_have_text("2")
    expect(page.get_by_test_id("undo")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("error-report").click()
    report = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    assert list(report.worksheets[0].iter_rows(values_only=True))[1][:2] == ("坏号码", "1.38E+10")

    assert set(Customer.objects.values_list("name", "mobile")) == {
        ("王小明", "13812345678"),
        ("李小红", "13900012222"),
    }
    page.goto(f"{live_server.url}/customers/")
    expect(page.get_by_test_id("customer-row")).to_have_count(2)

    # Undo, confirmed.
    page.go_back()
    page.get_by_test_id("undo").click()
    page.get_by_test_id("confirm-undo").click()
    expect(page.get_by_test_id("undone")).to_be_visible()
    assert Customer.objects.count() == 0
