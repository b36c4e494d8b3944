"""Custom fields in a real Chromium: a rep fills an admin-defined field (and a sensitive one)
in the customer form and sees them on the detail page, the sensitive one masked until shown."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from core.models import CustomField

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_fills_custom_fields_in_the_form_and_sees_them_on_the_detail_page(page: Page, live_server, rep):
    CustomField.objects.create(
        target="customer", key="budget", kind="decimal", label_en="Budget", label_zh_hans="预算", order=1
    )
    CustomField.objects.create(
        target="customer",
        key="level",
        kind="choice",
        choices="gold | Gold | 金牌\nsilver | Silver | 银牌",
        label_en="Membership",
        label_zh_hans="会员级别",
        order=2,
    )
    CustomField.objects.create(
        target="customer",
        key="id_number",
        kind="text",
        label_en="ID number",
        label_zh_hans="身份证号",
        sensitive=True,
        order=3,
    )
    page.goto(f"{live_server.url}/customers/new/")
    page.locator("#id_username").fill("rep")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/customers/new/$"))
    expect(page.get_by_test_id("custom-fields-form")).to_be_visible()
    page.locator("#id_name").fill("陈小春")
    page.locator("#id_cf_budget").fill("8800.5")
    page.locator("#id_cf_level").select_option("gold")
    page.locator("#id_cf_id_number").fill("440301199912120011")
    page.get_by_test_id("save-customer").click()

    expect(page).to_have_url(re.compile(r"/customers/\d+/$"))
    expect(page.get_by_test_id("custom-label-budget")).to_have_text("预算")
    expect(page.get_by_test_id("custom-value-budget")).to_have_text("8800.5")
    expect(page.get_by_test_id("custom-value-level")).to_have_text("金牌")
    sensitive = page.get_by_test_id("custom-value-id_number")
    expect(sensitive).to_contain_text("44****")
    expect(sensitive).not_to_contain_text("440301199912120011")
    page.get_by_test_id("reveal-cf_id_number").click()
    expect(page.locator("#cf_id_number")).to_have_text("440301199912120011")
