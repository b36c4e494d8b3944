"""The managers' dashboard against a hand-built data set: every figure per role, the team and
date filters, links that open lists with the same counts, the .xlsx export equal to the chart,
bad filters, and a query count that does not grow with the data."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.models import AuditLog
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.models import Ticket
from interactions.tests.factories import make_interaction, make_task, make_ticket
from reports.scope import Period, Scope
from reports.selectors import customer_breakdown, dashboard_charts, key_figures
from reports.services import figures_refresh
from sales.models import Opportunity, Order
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order, make_product

NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
NOV_QUERY = {"start": "2026-11-01", "end": "2026-11-30"}


def at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def world(rep, teammate, manager, other_rep, other_manager, service, admin_user):
    """Team A (rep, teammate, manager) and team B (other_rep): customers, orders, deals,
    interactions, tickets and tasks in November 2026 and in the 30 days before."""
    stages = ensure_default_pipeline()
    product = make_product(unit_price=Decimal("100.00"))

    def customer(name, owner, created, **fields):
        c = CustomerFactory(name=name, owner=owner)
        Customer.objects.filter(pk=c.pk).update(created_at=at(created), **fields)
        c.refresh_from_db()
        return c

    c1 = customer("甲公司", rep, date(2026, 11, 5), value_tier="vip", lifecycle_stage="existing")
    c2 = customer(
        "乙公司", rep, date(2026, 10, 10), value_tier="active", churn_flagged_at=at(date(2026, 11, 2))
    )
    c3 = customer("丙公司", teammate, date(2026, 11, 20), value_tier="potential")
    c4 = customer("丁公司", other_rep, date(2026, 11, 3), value_tier="dormant")
    assert c1.team == c3.team == rep.team and c4.team == other_rep.team

    make_order(c1, rep, [(product, 1, 1000)], ordered_at=at(date(2026, 11, 10)))
    make_order(c1, rep, [(product, 1, 500)], ordered_at=at(date(2026, 11, 11)), status=Order.Status.CANCELLED)
    make_order(c2, rep, [(product, 1, 300)], ordered_at=at(date(2026, 10, 15)))
    make_order(c3, teammate, [(product, 1, 200)], ordered_at=at(date(2026, 11, 25)))
    make_order(c4, other_rep, [(product, 1, 700)], ordered_at=at(date(2026, 11, 12)))

    make_opportunity(c1, rep, amount=Decimal("10000"), probability=50)
    make_opportunity(c3, teammate, amount=Decimal("20000"), probability=20)
    make_opportunity(c4, other_rep, amount=Decimal("5000"), probability=10)
    won = make_opportunity(c1, rep, title="已赢", amount=Decimal("3000"))
    Opportunity.objects.filter(pk=won.pk).update(
        stage=stages["Won"], created_at=at(date(2026, 11, 1)), closed_at=at(date(2026, 11, 11))
    )
    lost = make_opportunity(c2, rep, title="已输", amount=Decimal("4000"))
    Opportunity.objects.filter(pk=lost.pk).update(
        stage=stages["Lost"], created_at=at(date(2026, 10, 1)), closed_at=at(date(2026, 11, 15))
    )

    make_interaction(c1, rep, occurred_at=at(date(2026, 11, 6)))
    make_interaction(c1, rep, occurred_at=at(date(2026, 11, 27)))
    make_interaction(c2, rep, occurred_at=at(date(2026, 10, 20)))
    make_interaction(c3, teammate, occurred_at=at(date(2026, 11, 21)))
    make_interaction(c4, other_rep, occurred_at=at(date(2026, 11, 8)))

    t1 = make_ticket(c1, rep, category=Ticket.Category.COMPLAINT)
    t2 = make_ticket(c3, teammate, category=Ticket.Category.INQUIRY)
    t3 = make_ticket(c4, other_rep, category=Ticket.Category.COMPLAINT)
    Ticket.objects.filter(pk__in=[t1.pk, t2.pk, t3.pk]).update(created_at=at(date(2026, 11, 12)))
    Ticket.objects.filter(pk__in=[t1.pk, t3.pk]).update(sla_due_at=timezone.now() - timedelta(hours=1))
    Ticket.objects.filter(pk=t2.pk).update(sla_due_at=timezone.now() + timedelta(days=3))

    overdue = timezone.now() - timedelta(days=1)
    make_task(rep, c1, due_at=overdue)
    make_task(teammate, c3, due_at=overdue)
    make_task(other_rep, c4, due_at=overdue)
    make_task(rep, c1)  # not overdue
    figures_refresh()  # the job that keeps the dashboard's figures current
    return locals()


def values(user, team=None) -> dict:
    return {k: f.value for k, f in key_figures(Scope(user, team), NOV).items()}


def test_figures_of_a_rep_are_their_own(world, rep):
    figures = key_figures(Scope(rep), NOV)
    got = {k: f.value for k, f in figures.items()}
    assert got == {
        "new_customers": 1,  # c1 (c2 was created in October)
        "contacted_customers": 1,
        "revenue": Decimal("1000.00"),  # the cancelled order does not count
        "pipeline_value": Decimal("10000.00"),
        "weighted_forecast": Decimal("5000.00"),
        "win_rate": 50.0,
        "days_to_win": 10.0,
        "open_tickets": 1,
        "sla_breaches": 1,
        "churn_risk": 1,
        "overdue_tasks": 1,
    }
    previous = {k: f.previous for k, f in figures.items() if f.compared}
    assert previous == {
        "new_customers": 1,
        "contacted_customers": 1,
        "revenue": Decimal("300.00"),
        "win_rate": None,
        "days_to_win": None,
    }
    assert figures["revenue"].direction == "up"
    assert figures["revenue"].change == pytest.approx((1000 - 300) / 300 * 100)


def test_figures_of_a_manager_are_their_teams(world, manager):
    got = values(manager)
    assert got["new_customers"] == 2
    assert got["contacted_customers"] == 2
    assert got["revenue"] == Decimal("1200.00")
    assert got["pipeline_value"] == Decimal("30000.00")
    assert got["weighted_forecast"] == Decimal("9000.00")
    assert got["open_tickets"] == 2
    assert got["sla_breaches"] == 1
    assert got["overdue_tasks"] == 2  # rep's and teammate's


def test_figures_of_an_admin_cover_everyone_and_the_team_filter_narrows_them(world, admin_user, other_team):
    everyone = values(admin_user)
    assert everyone["new_customers"] == 3
    assert everyone["revenue"] == Decimal("1900.00")
    assert everyone["open_tickets"] == 3
    assert everyone["overdue_tasks"] == 3
    team_b = values(admin_user, other_team)
    assert team_b["new_customers"] == 1
    assert team_b["revenue"] == Decimal("700.00")
    assert team_b["pipeline_value"] == Decimal("5000.00")
    assert team_b["open_tickets"] == 1
    assert team_b["overdue_tasks"] == 1


def test_another_teams_rep_and_manager_see_none_of_team_a(world, other_rep, other_manager):
    for user in (other_rep, other_manager):
        got = values(user)
        assert got["revenue"] == Decimal("700.00")
        assert got["new_customers"] == 1
        assert got["open_tickets"] == 1


def test_stage_and_tier_breakdown(world, manager):
    by_stage, by_tier = customer_breakdown(Scope(manager))
    assert {f.key: f.value for f in by_tier} == {
        "tier_vip": 1,
        "tier_active": 1,
        "tier_potential": 1,
        "tier_dormant": 0,
    }
    assert sum(f.value for f in by_stage) == 3


def test_charts_from_the_data_set(world, admin_user):
    scope = Scope(admin_user)
    charts = dashboard_charts(scope, NOV, customer_breakdown(scope)[1])
    new = {p.label: p.value for p in charts["new_customers"].points}
    assert len(new) == 12 and sum(new.values()) == 4  # Dec 2025 … Nov 2026: all four customers
    revenue = charts["revenue"].points
    assert revenue[-1].value == Decimal("1900.00") and revenue[-2].value == Decimal("300.00")
    top = [(p.label, p.value) for p in charts["top_customers"].points]
    assert top == [
        ("甲公司", Decimal("1000.00")),
        ("丁公司", Decimal("700.00")),
        ("丙公司", Decimal("200.00")),
    ]
    tickets = {p.label: p.value for p in charts["tickets"].points}
    assert tickets["投诉"] + tickets["咨询"] == 3 or tickets["Complaint"] + tickets["Inquiry"] == 3
    per_rep = {}
    for p in charts["interactions"].points:
        per_rep[p.label] = per_rep.get(p.label, 0) + p.value
    # The weeks overlapping November 2026's last eight weeks: every November interaction.
    assert sorted(per_rep.values()) == [1, 1, 2]
    pipeline = sum(p.value for p in charts["pipeline"].points)
    assert pipeline == Decimal("35000.00")


def _count_of(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["page"].count


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
def test_every_link_opens_a_list_with_the_same_count(world, client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.get(reverse("reports:index"), NOV_QUERY)
    assert response.status_code == 200
    figures = response.context["figures"]
    for key in ("new_customers", "contacted_customers", "open_tickets", "sla_breaches", "churn_risk"):
        assert _count_of(client, figures[key].url) == figures[key].value, key
    orders = client.get(figures["revenue"].url).context["page"].object_list
    assert sum(o.total for o in orders) == figures["revenue"].value
    opportunities = client.get(figures["pipeline_value"].url).context["page"].object_list
    assert sum(o.amount for o in opportunities) == figures["pipeline_value"].value
    closed = client.get(figures["win_rate"].url).context["page"].object_list
    won = client.get(figures["days_to_win"].url).context["page"].object_list
    if closed:
        assert round(len(won) * 100 / len(closed), 1) == figures["win_rate"].value
    for f in (*response.context["by_stage"], *response.context["by_tier"]):
        assert _count_of(client, f.url) == f.value, f.key
    for chart, _svg, _table in response.context["charts"]:
        for point in chart.points:
            page = client.get(point.url).context["page"]
            if chart.key in ("revenue", "top_customers"):
                assert sum(o.total for o in page.object_list) == point.value, (chart.key, point.label)
            elif chart.key == "pipeline":
                assert sum(o.amount for o in page.object_list) == point.value, (chart.key, point.label)
            else:
                assert page.count == point.value, (chart.key, point.label, point.url)


def test_team_filter_for_an_admin_and_links_keep_it(world, client, admin_user, other_team):
    client.force_login(admin_user)
    response = client.get(reverse("reports:index"), {**NOV_QUERY, "team": other_team.pk})
    figures = response.context["figures"]
    assert figures["revenue"].value == Decimal("700.00")
    assert parse_qs(urlsplit(figures["new_customers"].url).query)["team"] == [str(other_team.pk)]
    assert _count_of(client, figures["new_customers"].url) == 1


def test_a_manager_cannot_pick_another_team_and_a_rep_has_no_team_filter(
    world, client, manager, rep, other_team
):
    client.force_login(manager)
    response = client.get(reverse("reports:index"), {**NOV_QUERY, "team": other_team.pk})
    assert response.status_code == 200
    assert response.context["figures"]["revenue"].value != Decimal("700.00")
    assert b'data-testid="filter-errors"' in response.content
    client.force_login(rep)
    response = client.get(reverse("reports:index"), {**NOV_QUERY, "team": other_team.pk})
    assert "team" not in response.context["form"].fields
    assert response.context["figures"]["revenue"].value == Decimal("1000.00")


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-12-01", "end": "2026-11-01"},
        {"start": "not a date", "end": "2026-13-45"},
        {"start": "2000-01-01", "end": "2026-11-30"},
        {"team": "x'; drop table"},
    ],
)
def test_bad_filters_show_an_error_and_the_default_period(world, client, manager, query):
    client.force_login(manager)
    response = client.get(reverse("reports:index"), query)
    assert response.status_code == 200
    assert b'data-testid="filter-errors"' in response.content
    assert response.context["period"].end == timezone.localdate()


def test_the_page_shows_the_figures_and_the_charts(world, client, manager):
    client.force_login(manager)
    response = client.get(reverse("reports:index"), NOV_QUERY, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert 'data-testid="figure-revenue"' in html and "¥1,200.00" in html
    assert html.count('<svg class="report-chart') == 7
    assert 'data-testid="table-top_customers"' in html and "甲公司" in html
    assert "丁公司" not in html  # another team's customer


def test_the_export_equals_the_chart_and_is_recorded(world, client, manager):
    client.force_login(manager)
    page = client.get(reverse("reports:index"), NOV_QUERY)
    charts = {chart.key: chart for chart, _svg, _table in page.context["charts"]}
    for key, chart in charts.items():
        response = client.get(reverse("reports:chart_export", args=[key]), NOV_QUERY)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/vnd.openxmlformats")
        rows = list(
            load_workbook(BytesIO(response.content), read_only=True).active.iter_rows(values_only=True)
        )
        header, body = chart.table()
        assert list(rows[0]) == header
        assert [list(r) for r in rows[1:]] == [
            [c if not isinstance(c, Decimal) else float(c) for c in r] for r in body
        ]
    assert AuditLog.objects.filter(action=AuditLog.Action.EXPORT, actor=manager).count() == len(charts)
    assert client.get(reverse("reports:chart_export", args=["nope"])).status_code == 404


def test_export_cells_are_neutralised(world, client, admin_user):
    Customer.objects.filter(name="甲公司").update(name='=HYPERLINK("http://x")')
    client.force_login(admin_user)
    response = client.get(reverse("reports:chart_export", args=["top_customers"]), NOV_QUERY)
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[1][0].startswith("'=")


def test_people_without_customer_access_are_refused(client, db):
    from core.tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get(reverse("reports:index")).status_code == 403
    assert client.get(reverse("reports:chart_export", args=["revenue"])).status_code == 403


def test_query_count_does_not_grow_with_the_data(world, client, admin_user, rep):
    client.force_login(admin_user)
    client.get(reverse("reports:index"), NOV_QUERY)  # warm caches (content types, stages)
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("reports:index"), NOV_QUERY)
    product = make_product()
    for n in range(5):
        c = CustomerFactory(name=f"新客户{n}", owner=rep)
        make_order(c, rep, [(product, 1)], ordered_at=at(date(2026, 11, 20)))
        make_interaction(c, rep, occurred_at=at(date(2026, 11, 20)))
    figures_refresh()
    with CaptureQueriesContext(connection) as second:
        client.get(reverse("reports:index"), NOV_QUERY)
    assert len(second) == len(first)
    # session, user, permissions (2), the latest refresh (3), team choices, 9 figure aggregates,
    # stage/tier counts, and one to two per chart (the pipeline chart also reads the stages).
    assert len(first) <= 28
