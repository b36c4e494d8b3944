"""The API docs (Swagger UI, served by the app itself) render in a real Chromium under the
Content-Security-Policy, and a token made on the account page works against the API."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_under_the_csp_and_a_new_token_works(page: Page, live_server, rep):
    violations, failed = [], []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("requestfailed", lambda r: failed.append(r.url))

    page.goto(f"{live_server.url}/accounts/api-tokens/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill("rep")
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/api-tokens/")

    page.locator("#id_name").fill("ERP")
    page.get_by_test_id("token-create").click()
    token = page.get_by_test_id("new-token").locator("code").inner_text().strip()
    assert token.startswith("crm_")

    page.goto(f"{live_server.url}/api/v1/docs/")
    # Swagger UI drew the operations from the schema (fetched with the session).
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CRM API", timeout=15000)
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.locator("#operations-customers-customers_list")).to_be_visible()
    assert violations == [], violations
    assert failed == [], failed

    # The token from the account page answers the API (outside the browser session).
    response = page.request.get(
        f"{live_server.url}/api/v1/customers/", headers={"Authorization": f"Bearer {token}", "Cookie": ""}
    )
    assert response.status == 200 and response.json()["count"] == 0
