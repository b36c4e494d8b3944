"""A sales rep's customer journey in a real Chromium: create, reveal, search, edit, delete,
restore; and the English ledger with its form validation."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "张三丰"


def _log_in(page: Page, live_server, next_path: str = "/customers/") -> None:
    """Log in through the form as the rep (field ids, not labels: the page may be in any language)."""
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill("rep")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def _search(page: Page, live_server, query: str) -> None:
    page.goto(f"{live_server.url}/customers/")
    page.locator("#id_q").fill(query)
    page.locator("#id_q").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]qk?="))


def _expect_found(page: Page, live_server, query: str) -> None:
    _search(page, live_server, query)
    table = page.get_by_test_id("customer-table")
    expect(table).to_be_visible()
    expect(table.get_by_test_id("customer-row").filter(has_text=NAME)).to_have_count(1)


def test_a_rep_creates_finds_edits_deletes_and_restores_a_customer(page: Page, live_server, rep, tmp_path):
    from core.models import AuditLog
    from customers.models import Customer

    _log_in(page, live_server)

    # 1. Create.
    page.get_by_test_id("new-customer").click()
    expect(page).to_have_url(f"{live_server.url}/customers/new/")
    page.locator("#id_name").fill(NAME)
    expect(page.locator("#id_kind")).to_have_value(Customer.Kind.INDIVIDUAL)
    page.locator("#id_mobile").fill("138 0013 8000")
    page.locator("#id_email").fill("zsf@example.com")
    page.get_by_test_id("save-customer").click()
    expect(page).to_have_url(re.compile(r"/customers/\d+/$"))
    expect(page.get_by_test_id("customer-name")).to_contain_text(NAME)
    expect(page.locator("#mobile")).to_have_text("138****8000")
    customer = Customer.objects.get(name=NAME)
    assert customer.mobile == "13800138000"
    assert customer.owner == rep
    detail_url = f"{live_server.url}/customers/{customer.pk}/"
    assert page.url == detail_url
    page.screenshot(path=str(tmp_path / "customer-detail.png"), full_page=True)

    # 2. Reveal the mobile: shown in clear, and logged.
    page.get_by_test_id("reveal-mobile").click()
    expect(page.locator("#mobile")).to_have_text("13800138000")
    expect(page.get_by_test_id("reveal-mobile")).to_have_count(0)
    assert AuditLog.objects.filter(
        action=AuditLog.Action.REVEAL, field="mobile", actor=rep, object_id=str(customer.pk)
    ).exists()

    # 3. Search by pinyin initials, full pinyin and the mobile number.
    _expect_found(page, live_server, "zsf")
    page.screenshot(path=str(tmp_path / "customer-list.png"), full_page=True)
    _expect_found(page, live_server, "zhangsanfeng")
    _expect_found(page, live_server, "13800138000")
    assert "13800138000" not in page.url  # searched by its blind-index token, not in clear

    # 4. Edit the job title; the change history records it.
    page.get_by_test_id("customer-table").get_by_role("link", name=NAME).click()
    expect(page).to_have_url(detail_url)
    page.get_by_test_id("edit-customer").click()
    expect(page).to_have_url(f"{detail_url}edit/")
    expect(page.locator("#id_name")).to_have_value(NAME)
    page.locator("#id_title").fill("总经理")
    page.get_by_test_id("save-customer").click()
    expect(page).to_have_url(detail_url)
    expect(page.get_by_text("总经理").first).to_be_visible()
    # One change line for the title: "<label>: — → 总经理".
    change = page.get_by_test_id("history").locator("li li").filter(has_text="总经理")
    expect(change).to_have_count(1)
    expect(change).to_contain_text(re.compile(r"—\s*→\s*总经理"))
    customer.refresh_from_db()
    assert customer.title == "总经理"
    page.screenshot(path=str(tmp_path / "customer-edited.png"), full_page=True)

    # 5. Delete (to the recycle bin): gone from the list.
    page.get_by_test_id("more-actions").click()
    page.get_by_test_id("delete-customer").click()
    expect(page).to_have_url(f"{detail_url}delete/")
    page.get_by_test_id("confirm-delete").click()
    expect(page).to_have_url(f"{live_server.url}/customers/")
    _search(page, live_server, "zsf")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    expect(page.get_by_test_id("customer-table")).to_have_count(0)
    customer.refresh_from_db()
    assert customer.is_deleted

    # 6. Restore from the recycle bin: back on its page and in the list.
    page.goto(f"{live_server.url}/customers/recycle-bin/")
    row = page.get_by_test_id("recycle-table").locator("tbody tr").filter(has_text=NAME)
    expect(row).to_have_count(1)
    row.get_by_test_id("restore").click()
    expect(page).to_have_url(detail_url)
    expect(page.get_by_test_id("customer-name")).to_contain_text(NAME)
    expect(page.get_by_test_id("deleted-banner")).to_have_count(0)
    customer.refresh_from_db()
    assert not customer.is_deleted
    _expect_found(page, live_server, "zsf")


@pytest.mark.browser_context_args(locale="en-US")
def test_the_ledger_in_english_and_an_invalid_mobile(page: Page, live_server, rep, tmp_path):
    rep.language = "en"
    rep.save(update_fields=["language"])
    _log_in(page, live_server)

    expect(page.locator("h1")).to_have_text("Customer ledger")
    page.screenshot(path=str(tmp_path / "customer-list-en.png"), full_page=True)

    page.get_by_test_id("new-customer").click()
    page.locator("#id_name").fill("John Smith")
    page.locator("#id_mobile").fill("12345")
    page.get_by_test_id("save-customer").click()
    expect(page).to_have_url(f"{live_server.url}/customers/new/")
    expect(page.locator("#id_mobile")).to_have_class(re.compile(r"\bis-invalid\b"))
    mobile_field = page.locator("#div_id_mobile")
    expect(mobile_field).to_contain_text("valid phone number")
    page.screenshot(path=str(tmp_path / "customer-form-en.png"), full_page=True)

    from customers.models import Customer

    assert not Customer.objects.exists()
