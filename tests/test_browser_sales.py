"""The sales pipeline in a real Chromium: a rep takes an opportunity from the customer page
through every stage (the detail page's move form and a drag and drop on the board) to won,
records its order and finds it in the customer's purchase history; a lost move needs a
reason; the English board's column totals and the forecast's weighted amounts."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CUSTOMER = "王小明"
TITLE = "2025 年度办公设备采购"


def _log_in(page: Page, live_server, username: str, next_path: str) -> None:
    """Log in through the form (field ids, not labels: the page may be in any language)."""
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def _yuan(amount, language: str = settings.LANGUAGE_CODE) -> str:
    """An amount as the templates show it (floatformat:"2g"; zh-hans groups without a separator)."""
    with translation.override(language):
        return f"¥{floatformat(Decimal(amount), '2g')}"


def _move_on_detail_page(page: Page, stage, lost_reason: str | None = None) -> None:
    """The detail page's no-script move form: choose the stage, press Move."""
    form = page.get_by_test_id("move-form")
    form.locator("#move-stage").select_option(str(stage.pk))
    if lost_reason is not None:
        form.locator("#move-lost-reason").fill(lost_reason)
    form.get_by_test_id("move-button").click()


def _card_column(page: Page, stage):
    return page.locator(f'[data-testid=board-column][data-stage="{stage.pk}"]')


def test_a_rep_wins_an_opportunity_and_its_order_shows_in_the_purchase_history(
    page: Page, live_server, rep, tmp_path
):
    from django.contrib.contenttypes.models import ContentType

    from customers.models import Customer
    from customers.tests.factories import CustomerFactory
    from interactions.models import Task
    from sales.models import Opportunity, Order, PipelineStage
    from sales.tests.factories import ensure_default_pipeline, make_product

    stages = ensure_default_pipeline()
    qualification, needs, proposal, negotiation, won = (
        stages[n] for n in ("Qualification", "Needs analysis", "Proposal", "Negotiation", "Won")
    )
    customer = CustomerFactory(name=CUSTOMER, owner=rep)
    assert customer.lifecycle_stage == Customer.LifecycleStage.PROSPECT
    printer = make_product(name="激光打印机", sku="PRN-001", unit_price=Decimal("1280.00"))
    toner = make_product(name="硒鼓", sku="TNR-002", unit_price=Decimal("99.50"))
    customer_path = f"/customers/{customer.pk}/"
    _log_in(page, live_server, "rep", customer_path)

    # 1. From the customer page, a new opportunity.
    expect(page.get_by_test_id("purchase-history")).to_be_visible()
    page.get_by_test_id("new-opportunity").click()
    expect(page).to_have_url(f"{live_server.url}/sales/opportunities/new/?customer={customer.pk}")
    close_date = timezone.localdate() + timedelta(days=30)
    form = page.get_by_test_id("opportunity-form")
    form.locator("#id_title").fill(TITLE)
    form.locator("#id_amount").fill("3000")
    form.locator("#id_expected_close_date").fill(close_date.isoformat())
    expect(form.locator("#id_stage")).to_have_value(str(qualification.pk))
    form.get_by_test_id("save-opportunity").click()

    expect(page).to_have_url(re.compile(r"/sales/opportunities/\d+/$"))
    opportunity = Opportunity.objects.get(customer=customer)
    detail_url = f"{live_server.url}/sales/opportunities/{opportunity.pk}/"
    assert page.url == detail_url
    assert opportunity.title == TITLE
    assert opportunity.amount == Decimal("3000.00")
    assert opportunity.expected_close_date == close_date
    assert opportunity.owner == rep
    assert opportunity.stage == qualification
    assert opportunity.probability == qualification.default_probability
    expect(page.get_by_test_id("opportunity-title")).to_contain_text(TITLE)
    expect(page.get_by_test_id("stage-badge")).to_have_text(qualification.name)

    # 2. Qualification → needs analysis with the move form.
    _move_on_detail_page(page, needs)
    expect(page).to_have_url(detail_url)
    expect(page.get_by_test_id("stage-badge")).to_have_text(needs.name)
    opportunity.refresh_from_db()
    assert opportunity.stage == needs
    assert opportunity.probability == needs.default_probability

    # 3. Needs analysis → proposal on the board, by drag and drop.
    page.goto(f"{live_server.url}/sales/pipeline/")
    card = page.get_by_test_id("board-card").filter(has_text=TITLE)
    expect(card).to_have_count(1)
    expect(_card_column(page, needs).get_by_test_id("board-card")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "board-before-drag.png"), full_page=True)
    # Grab the card by its customer line: not the title link (draggable=false), not the form.
    card.locator("div.small").first.drag_to(_card_column(page, proposal).locator("[data-dropzone]"))
    expect(page.locator("#board-alert .alert-success")).to_be_visible()
    expect(_card_column(page, proposal).get_by_test_id("board-card").filter(has_text=TITLE)).to_have_count(1)
    expect(_card_column(page, needs).get_by_test_id("board-card")).to_have_count(0)
    expect(_card_column(page, proposal).locator("[data-role=count]")).to_have_text("1")
    expect(_card_column(page, needs).locator("[data-role=count]")).to_have_text("0")
    expect(_card_column(page, proposal).locator("[data-role=amount]")).to_have_text(_yuan("3000"))
    expect(_card_column(page, proposal).locator("[data-role=weighted]")).to_have_text(_yuan("1500"))
    expect(card.locator("[data-role=probability]")).to_have_text(f"{proposal.default_probability}%")
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    opportunity.refresh_from_db()
    assert opportunity.stage == proposal
    assert opportunity.probability == proposal.default_probability
    # The move survives a reload.
    page.reload()
    expect(_card_column(page, proposal).get_by_test_id("board-card").filter(has_text=TITLE)).to_have_count(1)

    # 4. Back on the detail page: proposal → negotiation → won.
    card.get_by_role("link", name=TITLE).click()
    expect(page).to_have_url(detail_url)
    expect(page.get_by_test_id("stage-badge")).to_have_text(proposal.name)
    expect(page.get_by_test_id("won-banner")).to_have_count(0)
    _move_on_detail_page(page, negotiation)
    expect(page.get_by_test_id("stage-badge")).to_have_text(negotiation.name)
    _move_on_detail_page(page, won)
    expect(page).to_have_url(detail_url)
    expect(page.get_by_test_id("stage-badge")).to_have_text(won.name)
    expect(page.get_by_test_id("won-banner")).to_be_visible()
    opportunity.refresh_from_db()
    assert opportunity.stage == won
    assert opportunity.probability == 100
    assert opportunity.closed_at is not None
    assert opportunity.order is None

    # The stage history: the creation, then one row per move, each with its time in the stage left.
    changes = list(opportunity.stage_changes.order_by("changed_at", "pk"))
    assert [(c.from_stage_id, c.to_stage_id) for c in changes] == [
        (None, qualification.pk),
        (qualification.pk, needs.pk),
        (needs.pk, proposal.pk),
        (proposal.pk, negotiation.pk),
        (negotiation.pk, won.pk),
    ]
    assert all(c.changed_by == rep for c in changes)
    assert all(c.seconds_in_previous >= 0 for c in changes)
    assert changes[0].seconds_in_previous == 0
    expect(page.get_by_test_id("stage-history").locator("tbody tr")).to_have_count(len(changes))

    # Automatic follow-up tasks: one for each stage entered that has follow-up days.
    follow_up_stages = [s for s in (qualification, needs, proposal, negotiation) if s.follow_up_days]
    assert len(follow_up_stages) == 4
    tasks = Task.objects.filter(
        subject_type=ContentType.objects.get_for_model(Opportunity), subject_id=opportunity.pk
    )
    assert all(t.origin == Task.Origin.AUTOMATIC == "automatic" for t in tasks)
    assert sorted(t.rule for t in tasks) == sorted(f"stage_entered:{s.pk}" for s in follow_up_stages)
    entered = {c.to_stage_id: c.changed_at for c in changes}
    for stage in follow_up_stages:
        task = tasks.get(rule=f"stage_entered:{stage.pk}")
        assert task.assignee == rep
        assert task.customer == customer
        assert task.title == f"{stage.follow_up_title} · {TITLE}"
        assert task.due_at == entered[stage.pk] + timedelta(days=stage.follow_up_days)
    assert not PipelineStage.objects.filter(pk=won.pk, follow_up_days__isnull=False).exists()
    expect(page.get_by_test_id("opportunity-tasks").locator("li")).to_have_count(4)
    expect(page.get_by_test_id("opportunity-tasks").locator(".bi-robot")).to_have_count(4)
    page.screenshot(path=str(tmp_path / "opportunity.png"), full_page=True)

    # 5. Create the order from the won opportunity: two lines, paid.
    page.get_by_test_id("create-order").click()
    expect(page).to_have_url(
        f"{live_server.url}/sales/orders/new/?customer={customer.pk}&opportunity={opportunity.pk}"
    )
    expect(page.locator("#id_notes")).to_have_value(TITLE)
    page.locator("#id_status").select_option(Order.Status.PAID)
    page.locator("#id_lines-0-product").select_option(str(printer.pk))
    page.locator("#id_lines-0-quantity").fill("2")
    page.locator("#id_lines-1-product").select_option(str(toner.pk))
    page.locator("#id_lines-1-quantity").fill("3")
    page.get_by_test_id("save-order").click()

    expect(page).to_have_url(re.compile(r"/sales/orders/\d+/$"))
    order = Order.objects.get(customer=customer)
    assert page.url == f"{live_server.url}/sales/orders/{order.pk}/"
    total = Decimal("2") * Decimal("1280.00") + Decimal("3") * Decimal("99.50")
    assert order.total == total == Decimal("2858.50")
    assert order.status == Order.Status.PAID
    assert order.owner == rep
    assert order.created_by == rep
    assert sorted((line.product_id, line.quantity) for line in order.lines.all()) == sorted(
        [(printer.pk, Decimal("2")), (toner.pk, Decimal("3"))]
    )
    expect(page.get_by_test_id("order-total")).to_have_text(_yuan(total))
    expect(page.get_by_test_id("order-lines").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    page.screenshot(path=str(tmp_path / "order.png"), full_page=True)
    opportunity.refresh_from_db()
    assert opportunity.order == order

    # The opportunity page links the order and no longer offers to create one.
    page.goto(detail_url)
    expect(page.get_by_test_id("linked-order")).to_have_text(order.number)
    expect(page.get_by_test_id("won-banner")).to_have_count(0)

    # 6. The customer page: the order in the purchase history; statistics and lifecycle follow.
    page.goto(f"{live_server.url}{customer_path}")
    history = page.get_by_test_id("purchase-history")
    row = history.locator("tr").filter(has_text=order.number)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(_yuan(total))
    expect(row.get_by_role("link", name=order.number)).to_have_attribute("href", f"/sales/orders/{order.pk}/")
    # A won opportunity is no longer open.
    expect(page.get_by_test_id("sales-panel")).not_to_contain_text(TITLE)
    with translation.override(settings.LANGUAGE_CODE):
        new_label = str(Customer.LifecycleStage.NEW.label)
    expect(page.get_by_test_id("customer-name")).to_contain_text(new_label)
    page.screenshot(path=str(tmp_path / "customer.png"), full_page=True)
    customer.refresh_from_db()
    assert customer.order_count == 1
    assert customer.total_spend == total
    assert customer.lifecycle_stage == Customer.LifecycleStage.NEW
    assert customer.first_purchase_at == customer.last_purchase_at == order.ordered_at


def test_losing_needs_a_reason(page: Page, live_server, rep, tmp_path):
    from customers.tests.factories import CustomerFactory
    from sales.tests.factories import ensure_default_pipeline, make_opportunity

    stages = ensure_default_pipeline()
    proposal, lost = stages["Proposal"], stages["Lost"]
    customer = CustomerFactory(name=CUSTOMER, owner=rep)
    opportunity = make_opportunity(customer, rep, title=TITLE, stage=proposal)
    detail_path = f"/sales/opportunities/{opportunity.pk}/"
    _log_in(page, live_server, "rep", detail_path)
    expect(page.get_by_test_id("stage-badge")).to_have_text(proposal.name)

    # Without a reason: refused, still in its stage, an error; the form asks for the reason.
    reason_field = page.locator("#move-lost-reason")
    expect(reason_field).to_be_hidden()
    page.locator("#move-stage").select_option(str(lost.pk))
    expect(reason_field).to_be_visible()
    page.get_by_test_id("move-button").click()
    expect(page).to_have_url(f"{live_server.url}{detail_path}?move_to={lost.pk}#move")
    with translation.override(settings.LANGUAGE_CODE):
        error_text = translation.gettext("Say why the opportunity was lost.")
    error = page.locator(".alert-danger").filter(has_text=error_text)
    expect(error).to_be_visible()
    expect(page.get_by_test_id("stage-badge")).to_have_text(proposal.name)
    expect(page.locator("#move-stage")).to_have_value(str(lost.pk))
    expect(reason_field).to_be_visible()
    expect(reason_field).to_be_editable()
    # The #move fragment scrolls to the form. (It also makes the browser skip the reason
    # field's autofocus: a document with a target element gets no autofocus.)
    expect(page.locator("#move")).to_be_in_viewport()
    page.screenshot(path=str(tmp_path / "lost-without-reason.png"), full_page=True)
    opportunity.refresh_from_db()
    assert opportunity.stage == proposal
    assert opportunity.closed_at is None
    assert opportunity.lost_reason == ""
    assert opportunity.stage_changes.count() == 1

    # With a reason: lost, closed, the reason shown.
    reason = "价格太高，客户选择了竞争对手"
    reason_field.fill(reason)
    page.get_by_test_id("move-button").click()
    # Back to the page the form was posted from (it still carries ?move_to=).
    expect(page).to_have_url(re.compile(rf"{re.escape(detail_path)}(\?move_to={lost.pk})?$"))
    expect(page.get_by_test_id("stage-badge")).to_have_text(lost.name)
    expect(page.get_by_test_id("lost-reason")).to_have_text(reason)
    expect(page.locator(".alert-danger")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "lost-with-reason.png"), full_page=True)
    opportunity.refresh_from_db()
    assert opportunity.stage == lost
    assert opportunity.lost_reason == reason
    assert opportunity.probability == 0
    assert opportunity.closed_at is not None
    change = opportunity.stage_changes.order_by("changed_at", "pk").last()
    assert (change.from_stage, change.to_stage, change.changed_by) == (proposal, lost, rep)
    assert change.seconds_in_previous >= 0


@pytest.mark.browser_context_args(locale="en-US")
def test_the_board_in_english_and_the_forecast(page: Page, live_server, rep, tmp_path):
    from customers.tests.factories import CustomerFactory
    from sales.models import PipelineStage
    from sales.tests.factories import ensure_default_pipeline, make_opportunity

    stages = ensure_default_pipeline()
    qualification = stages["Qualification"]
    rep.language = "en"
    rep.save(update_fields=["language"])
    customer = CustomerFactory(name="John Smith", owner=rep)
    today = timezone.localdate()
    # 10 % of 12,345.67 is 1,234.567: rounded to cents per opportunity, 1,234.57.
    this_month = make_opportunity(
        customer, rep, title="Office chairs", amount=Decimal("12345.67"), expected_close_date=today
    )
    undated = make_opportunity(customer, rep, title="Standing desks", amount=Decimal("30000.00"))
    for opportunity in (this_month, undated):
        assert opportunity.stage == qualification
        assert opportunity.probability == 10
    assert this_month.weighted_amount == Decimal("1234.57")

    _log_in(page, live_server, "rep", "/sales/pipeline/")
    expect(page.locator("h1")).to_have_text("Pipeline")
    columns = page.get_by_test_id("board-column")
    expect(columns.locator("h2")).to_have_text(
        [s.name_en for s in PipelineStage.objects.filter(active=True).order_by("order", "pk")]
    )
    expect(columns.locator("h2")).to_have_text(
        ["Qualification", "Needs analysis", "Proposal", "Negotiation", "Won", "Lost"]
    )
    column = _card_column(page, qualification)
    expect(column.get_by_test_id("board-card")).to_have_count(2)
    expect(column.locator("[data-role=count]")).to_have_text("2")
    expect(column.locator("[data-role=amount]")).to_have_text("¥42,345.67")
    expect(column.locator("[data-role=weighted]")).to_have_text("¥4,234.57")
    card = column.get_by_test_id("board-card").filter(has_text="Office chairs")
    expect(card).to_contain_text("¥12,345.67")
    expect(card.locator("[data-role=probability]")).to_have_text("10%")
    for other in ("Needs analysis", "Proposal", "Negotiation", "Won", "Lost"):
        other_column = _card_column(page, stages[other])
        expect(other_column.locator("[data-role=count]")).to_have_text("0")
        expect(other_column.locator("[data-role=amount]")).to_have_text("¥0.00")
    page.screenshot(path=str(tmp_path / "board-en.png"), full_page=True)

    # The forecast: this month's weighted amount, the undated one under "No date".
    page.get_by_test_id("sales-subnav").get_by_role("link", name="Forecast").click()
    expect(page).to_have_url(f"{live_server.url}/sales/forecast/")
    expect(page.locator("h1")).to_have_text("Forecast")
    table = page.get_by_test_id("forecast-table")
    headers = table.locator("thead th")
    expect(headers.nth(2)).to_have_text(today.strftime("%Y-%m"))
    expect(headers.nth(9)).to_have_text("No date")
    rep_row = table.get_by_test_id("forecast-rep").filter(has_text=str(rep))
    expect(rep_row).to_have_count(1)
    cells = rep_row.locator("td")
    # Overdue, six months, later, no date, total.
    expect(cells).to_have_count(10)
    expect(cells.nth(0)).to_have_text("—")
    expect(cells.nth(1)).to_have_text("1,234.57")
    expect(cells.nth(8)).to_have_text("3,000.00")
    expect(cells.nth(9)).to_have_text("4,234.57")
    total_cells = table.get_by_test_id("forecast-total").locator("td")
    expect(total_cells.nth(1)).to_have_text("1,234.57")
    expect(total_cells.nth(9)).to_have_text("¥4,234.57")
    page.screenshot(path=str(tmp_path / "forecast-en.png"), full_page=True)
