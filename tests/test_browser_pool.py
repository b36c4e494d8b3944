"""The customer pool (公海) in a real Chromium: a rep claims a customer (confirming), then
releases it again with a reason from the customer page."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_claims_from_the_pool_and_releases_with_a_reason(page: Page, live_server, rep, team):
    from customers.models import Customer, PoolEvent
    from customers.tests.factories import CustomerFactory

    customer = CustomerFactory(owner=None, team=team, name="王公海", mobile="13700001111")
    page.goto(f"{live_server.url}/customers/pool/")
    page.locator("#id_username").fill("rep")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/customers/pool/")
    row = page.get_by_test_id("pool-row").filter(has_text="王公海")
    expect(row).to_contain_text("137****1111")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id("claim").click()
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")
    customer.refresh_from_db()
    assert customer.owner == rep

    page.get_by_test_id("release-customer").click()
    page.locator("#release-form textarea[name=reason]").fill("客户要求换人跟进")
    page.get_by_test_id("release-submit").click()
    expect(page).to_have_url(re.compile(r"/customers/pool/$"))
    customer.refresh_from_db()
    assert customer.owner is None
    assert list(PoolEvent.objects.order_by("id").values_list("kind", flat=True)) == ["claim", "release"]
    assert Customer.objects.filter(pk=customer.pk, pool__isnull=False).exists()
