"""Marketing in a real Chromium: a manager saves the filtered ledger as a segment, adds a
selection to a static list, writes a message template and sends themself a test."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_segment_from_the_list_static_list_and_a_test_message(
    page: Page, live_server, manager, rep, settings
):
    from customers.tests.factories import CustomerFactory
    from marketing.models import MessageTemplate, Segment

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # restored after the test
    manager.email = "manager@example.com"
    manager.save()
    for i in range(3):
        CustomerFactory(owner=rep, name=f"潜在{i}", lifecycle_stage="prospect")
    CustomerFactory(owner=rep, name="老客户", lifecycle_stage="existing")

    page.goto(f"{live_server.url}/customers/?lifecycle_stage=prospect")
    page.locator("#id_username").fill("manager")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page.get_by_test_id("result-count")).to_contain_text("3")

    # Save as segment: the list's filters under a name; the segment list shows the same count.
    page.get_by_test_id("save-segment-toggle").click()
    page.get_by_test_id("segment-name").fill("潜在客户")
    page.get_by_test_id("save-segment").click()
    expect(page).to_have_url(re.compile(r"/marketing/segments/$"))
    row = page.get_by_test_id("segment-table").locator("tr", has_text="潜在客户")
    expect(row.get_by_test_id("segment-count")).to_have_text("3")
    assert Segment.objects.get(name="潜在客户").query == "lifecycle_stage=prospect"

    # A static list from a selection of the ledger, after a confirmation.
    page.goto(f"{live_server.url}/customers/?lifecycle_stage=prospect")
    page.locator(".bulk-check").nth(0).check()
    page.locator(".bulk-check").nth(1).check()
    page.get_by_test_id("add-to-static-list").click()
    expect(page.get_by_test_id("add-summary")).to_contain_text("2")
    page.locator("#id_new_name").fill("展会名单")
    page.get_by_test_id("confirm-add").click()
    expect(page.get_by_test_id("member-table").locator("tbody tr")).to_have_count(2)
    assert Segment.objects.get(name="展会名单").memberships.count() == 2

    # A message template, then a test message to one's own address.
    page.goto(f"{live_server.url}/marketing/templates/new/")
    page.locator("#id_name").fill("春季问候")
    page.locator("#id_subject").fill("{{ name }}，您好")
    page.locator("#id_body").fill("亲爱的{{ name }}，您的顾问{{ owner }}。")
    page.get_by_test_id("save-template").click()
    expect(page).to_have_url(re.compile(r"/marketing/templates/$"))
    template = MessageTemplate.objects.get(name="春季问候")
    page.goto(f"{live_server.url}/marketing/templates/{template.pk}/")
    page.get_by_test_id("test-send").click()
    expect(page.locator(".alert-success")).to_be_visible()
    assert [m.to for m in mail.outbox] == [["manager@example.com"]]
    assert mail.outbox[0].subject.endswith("，您好")
