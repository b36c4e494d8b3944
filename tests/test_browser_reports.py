"""The dashboard in a real Chromium, in both languages: key figures, the seven charts drawn
as SVG with their bars, a chart's table view, and a bar that opens the list behind it."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, live_server, username: str, next_path: str) -> None:
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")


@pytest.mark.parametrize(
    ("language", "title", "revenue"),
    [("zh-hans", "仪表盘", "销售额"), ("en", "Dashboard", "Revenue")],
)
def test_the_dashboard_draws_its_charts(
    page: Page, live_server, manager, rep, language, title, revenue, tmp_path
):
    from core.models import User
    from customers.tests.factories import CustomerFactory
    from interactions.tests.factories import make_interaction
    from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order, make_product

    User.objects.filter(pk=manager.pk).update(language=language)
    ensure_default_pipeline()
    product = make_product(unit_price=Decimal("250.00"))
    for n in range(3):
        customer = CustomerFactory(name=f"客户{n}", owner=rep)
        make_order(customer, rep, [(product, n + 1)], ordered_at=timezone.now() - timedelta(days=n))
        make_interaction(customer, rep)
        make_opportunity(customer, rep, amount=Decimal("10000"))

    _log_in(page, live_server, "manager", "/reports/")
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.get_by_test_id("figure-revenue")).to_contain_text(revenue)
    expect(page.get_by_test_id("figure-revenue")).to_contain_text("¥")
    charts = page.locator("svg.report-chart")
    expect(charts).to_have_count(7)
    for key in ("new_customers", "revenue", "pipeline", "tiers", "interactions", "top_customers"):
        bars = page.get_by_test_id(f"chart-{key}").locator("rect")
        assert bars.count() > 0, key
        sizes = [bars.nth(i).bounding_box() for i in range(bars.count())]
        assert any(b is not None and b["height"] > 0 and b["width"] > 0 for b in sizes), key
    page.screenshot(path=str(tmp_path / f"dashboard-{language}.png"), full_page=True)

    # The table view of the top customers, then a bar that opens its orders.
    top = page.get_by_test_id("chart-top_customers")
    top.locator("summary").click()
    expect(top.get_by_test_id("table-top_customers")).to_contain_text("客户2")
    top.locator("a.chart-segment").first.click()
    expect(page).to_have_url(re.compile(r"/sales/orders/\?"))
    expect(page.locator("tbody tr")).to_have_count(1)


@pytest.mark.parametrize(
    ("language", "title", "changed"),
    [
        ("zh-hans", "客户管理维护图", "位客户的分级发生了变化"),
        ("en", "Customer maintenance diagram", "customers changed tier"),
    ],
)
def test_the_maintenance_diagram_draws_and_its_numbers_open_the_customers(
    page: Page, live_server, manager, rep, language, title, changed, tmp_path
):
    from core.models import User
    from customers.models import TierChange
    from customers.tests.factories import CustomerFactory

    User.objects.filter(pk=manager.pk).update(language=language)
    today = timezone.localdate()
    for n in range(3):
        customer = CustomerFactory(name=f"升级客户{n}", owner=rep)
        TierChange.objects.create(customer=customer, changed_on=today, from_tier="potential", to_tier="vip")
    dropped = CustomerFactory(name="降级客户", owner=rep)
    TierChange.objects.create(customer=dropped, changed_on=today, from_tier="active", to_tier="dormant")

    _log_in(page, live_server, "manager", "/reports/maintenance/")
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.get_by_test_id("pyramid").locator("polygon")).to_have_count(4)
    expect(page.get_by_test_id("transitions").locator("path")).to_have_count(2)
    expect(page.get_by_test_id("transitions")).to_contain_text(changed)
    expect(page.get_by_test_id("funnel-added")).to_have_attribute("data-value", "4")
    page.screenshot(path=str(tmp_path / f"maintenance-{language}.png"), full_page=True)

    page.get_by_test_id("transition-matrix").locator('a[data-value="3"]').click()
    expect(page).to_have_url(re.compile(r"/customers/\?"))
    expect(page.get_by_test_id("result-count")).to_contain_text("3")
