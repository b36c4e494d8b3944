"""A real Chromium (Debian's) against a live test server: log in, switch language, see home."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_logs_in_switches_language_and_sees_the_workspace(page: Page, live_server, rep, tmp_path):
    page.goto(f"{live_server.url}/customers/")
    # Anonymous: sent to the login page, in Chinese by default.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/customers/"))
    expect(page.get_by_role("heading", name="登录 CRM")).to_be_visible()

    page.get_by_label("用户名").fill("rep")
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("用户名或密码错误")).to_be_visible()

    page.get_by_label("用户名").fill("rep")
    page.get_by_label("密码").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server.url}/customers/")
    page.get_by_role("link", name="我的工作台").first.click()
    expect(page.get_by_test_id("page-title")).to_have_text("我的工作台")
    page.screenshot(path=str(tmp_path / "home-zh.png"), full_page=True)

    page.select_option("#language-select", "en")
    expect(page.get_by_test_id("page-title")).to_have_text("My workspace")
    expect(page.get_by_role("link", name="Customers").first).to_be_visible()
    rep.refresh_from_db()
    assert rep.language == "en"
    page.screenshot(path=str(tmp_path / "home-en.png"), full_page=True)

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("heading", name="Log in to the CRM")).to_be_visible()


def test_static_assets_are_served_by_the_app_itself(page: Page, live_server, rep):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live_server.url}/accounts/login/")
    assert requests and all(url.startswith(live_server.url) for url in requests), requests
    bootstrap_loaded = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert bootstrap_loaded and "Times" not in bootstrap_loaded
