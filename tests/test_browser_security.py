"""In a real Chromium: the Content-Security-Policy blocks nothing the pages need (no
violation on the main pages, admin included), and confirmations still ask."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in_as_admin(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/")
    page.locator("#id_username").fill("admin")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_the_main_pages_run_without_a_single_policy_violation(page: Page, live_server, admin_user, rep):
    from customers.services import customer_delete
    from customers.tests.factories import CustomerFactory
    from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

    ensure_default_pipeline()
    customer = CustomerFactory(owner=rep, name="张三丰", mobile="13812345678")
    order = make_order(customer, rep)
    opportunity = make_opportunity(customer, rep)
    customer_delete(customer=CustomerFactory(owner=rep, name="李四"), user=rep, request=None)

    violations = []
    page.on(
        "console",
        lambda msg: (
            violations.append(f"{page.url}: {msg.text}") if "Content Security Policy" in msg.text else None
        ),
    )
    _log_in_as_admin(page, live_server)
    for path in (
        "/",
        "/customers/",
        f"/customers/{customer.pk}/",
        "/customers/recycle-bin/",
        "/interactions/tasks/team/",
        f"/sales/orders/{order.pk}/",
        "/sales/pipeline/",
        f"/sales/opportunities/{opportunity.pk}/",
        "/admin/",
        "/admin/core/user/add/",
        f"/admin/core/user/{rep.pk}/change/",
        "/admin/core/auditlog/",
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("body")).to_be_visible()
    assert violations == []

    # The completeness bar gets its width from data-progress (no style attribute).
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    width = page.locator("[data-progress]").evaluate("el => el.style.width")
    assert re.fullmatch(r"\d+%", width) and width != "0%"


def test_purging_from_the_recycle_bin_still_asks_first(page: Page, live_server, admin_user, rep):
    from customers.models import Customer
    from customers.services import customer_delete
    from customers.tests.factories import CustomerFactory

    deleted = CustomerFactory(owner=rep, name="李四")
    customer_delete(customer=deleted, user=rep, request=None)
    _log_in_as_admin(page, live_server)
    page.goto(f"{live_server.url}/customers/recycle-bin/")
    purge = page.locator(f"form[action='/customers/{deleted.pk}/purge/'] button[type=submit]")

    page.once("dialog", lambda dialog: dialog.dismiss())
    purge.click()
    page.wait_for_timeout(300)
    assert Customer.objects.filter(pk=deleted.pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    purge.click()
    expect(page.locator("body")).to_contain_text("李四")  # the "deleted for good" message
    assert not Customer.objects.filter(pk=deleted.pk).exists()
