"""In a real Chromium: a visitor fills in a public web form (no login, no JavaScript needed),
in Chinese and in English, without a single Content-Security-Policy violation."""

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webform(team, settings):
    from django.core.cache import cache

    from sales.models import WebForm

    cache.clear()
    # The "too fast" trap would otherwise make the test wait; it has its own tests.
    settings.WEBFORM_MIN_SECONDS = 0
    return WebForm.objects.create(
        name="官网咨询",
        fields=["company", "mobile", "email", "message"],
        required_fields=["mobile"],
        title_zh="联系我们",
        title_en="Contact us",
        thanks_zh="谢谢，我们会尽快联系您。",
        thanks_en="Thank you, we will be in touch.",
        consent_text_zh="我同意接收营销信息。",
        consent_text_en="I agree to receive marketing messages.",
        consent_required=True,
        team=team,
    )


def _watch_policy(page: Page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    return violations


def test_a_visitor_fills_in_the_form_in_chinese(page: Page, live_server, webform, manager):
    from customers.models import ConsentRecord, Customer

    violations = _watch_policy(page)
    page.goto(f"{live_server.url}/f/{webform.token}/")  # the context's locale is zh-CN
    expect(page.get_by_role("heading", name="联系我们")).to_be_visible()
    # The honeypot is off screen for people.
    box = page.locator("#id_website").bounding_box()
    assert box is None or box["x"] < 0
    page.locator("#id_name").fill("王五")
    page.locator("#id_company").fill("无锡工具厂")
    page.locator("#id_mobile").fill("139 1234 5678")
    page.locator("#id_message").fill("请报价。")
    # The consent box is required by this form.
    page.locator("#id_consent").check()
    page.locator("button[type=submit]").click()
    expect(page.get_by_text("谢谢，我们会尽快联系您。")).to_be_visible()
    customer = Customer.objects.get()
    assert (customer.name, customer.mobile, customer.lifecycle_stage) == ("王五", "13912345678", "prospect")
    assert ConsentRecord.objects.filter(customer=customer, source="web_form", granted=True).exists()
    assert violations == []


def test_a_visitor_fills_in_the_form_in_english_and_corrects_a_mistake(
    browser: Browser, live_server, webform, manager
):
    from customers.models import Customer

    context = browser.new_context(locale="en-US")
    page = context.new_page()
    violations = _watch_policy(page)
    page.goto(f"{live_server.url}/f/{webform.token}/")
    expect(page.get_by_role("heading", name="Contact us")).to_be_visible()
    page.locator("#id_name").fill("Wang Wu")
    page.locator("#id_mobile").fill("12345")
    page.get_by_label("I agree to receive marketing messages.").check()
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Enter a valid phone number.")).to_be_visible()
    assert not Customer.objects.exists()
    page.locator("#id_mobile").fill("13912345678")
    page.get_by_label("I agree to receive marketing messages.").check()
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Thank you, we will be in touch.")).to_be_visible()
    assert Customer.objects.get().name == "Wang Wu"
    assert violations == []
    context.close()
