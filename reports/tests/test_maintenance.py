"""The customer maintenance diagram against a hand-built data set: tier pyramid with revenue
shares, lifecycle funnel, tier transitions between two dates (net of moves back), the
maintenance process, scoping, and every number linking to a list with the same count."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, TierChange
from customers.tests.factories import CustomerFactory
from interactions.models import Task
from interactions.tests.factories import make_task
from reports.diagram import lifecycle_funnel, maintenance_process, tier_pyramid, tier_transitions
from reports.scope import Period, Scope
from sales.churn import WIN_BACK_RULE
from sales.tests.factories import make_order, make_product

NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
NOV_QUERY = {"start": "2026-11-01", "end": "2026-11-30"}


def at(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(10)))


@pytest.fixture
def world(rep, teammate, manager, other_rep, admin_user):
    product = make_product()

    def customer(name, owner, tier, stage, created=date(2026, 11, 5), **fields):
        c = CustomerFactory(name=name, owner=owner)
        fields.setdefault("info_verified_at", None)
        Customer.objects.filter(pk=c.pk).update(
            value_tier=tier, lifecycle_stage=stage, created_at=at(created), **fields
        )
        return Customer.objects.get(pk=c.pk)

    vip = customer("贵宾", rep, "vip", "existing")
    active = customer("活跃客户", rep, "active", "new")
    potential = customer("潜在客户", teammate, "potential", "prospect", last_contacted_at=timezone.now())
    dormant = customer("休眠客户", teammate, "dormant", "churned", churn_flagged_at=at(date(2026, 11, 1)))
    old = customer(
        "老客户", rep, "active", "existing", created=date(2026, 9, 1), info_verified_at=timezone.now()
    )
    elsewhere = customer("别队客户", other_rep, "vip", "new")

    make_order(vip, rep, [(product, 1, 600)], ordered_at=at(date(2026, 11, 10)))
    make_order(active, rep, [(product, 1, 300)], ordered_at=at(date(2026, 11, 11)))
    make_order(old, rep, [(product, 1, 100)], ordered_at=at(date(2026, 11, 12)))
    make_order(elsewhere, other_rep, [(product, 1, 5000)], ordered_at=at(date(2026, 11, 12)))
    make_order(vip, rep, [(product, 1, 999)], ordered_at=at(date(2026, 10, 12)))  # before the period
    # Orders change tiers and stages; put back the hand-built ones.
    for c in (vip, active, potential, dormant, old, elsewhere):
        Customer.objects.filter(pk=c.pk).update(value_tier=c.value_tier, lifecycle_stage=c.lifecycle_stage)

    def moves(c, *steps):
        for day, before, after in steps:
            TierChange.objects.create(customer=c, changed_on=day, from_tier=before, to_tier=after)

    moves(vip, (date(2026, 11, 3), "active", "vip"))
    moves(active, (date(2026, 11, 3), "", "potential"), (date(2026, 11, 20), "potential", "active"))
    moves(
        potential, (date(2026, 11, 4), "dormant", "active"), (date(2026, 11, 25), "active", "dormant")
    )  # back
    moves(dormant, (date(2026, 10, 20), "active", "dormant"))  # before the period
    moves(old, (date(2026, 11, 15), "vip", "active"))
    moves(elsewhere, (date(2026, 11, 15), "potential", "vip"))

    task = make_task(rep, old, due_at=timezone.now() + timedelta(days=1))
    Task.objects.filter(pk=task.pk).update(
        rule=WIN_BACK_RULE, origin="automatic", status=Task.Status.DONE, completed_at=at(date(2026, 11, 16))
    )
    return locals()


def test_pyramid_counts_and_revenue_shares(world, manager):
    levels = {level.key: level for level in tier_pyramid(Scope(manager), NOV)}
    assert {k: v.count for k, v in levels.items()} == {"vip": 1, "active": 2, "potential": 1, "dormant": 1}
    assert levels["vip"].revenue == Decimal("600.00")
    assert levels["active"].revenue == Decimal("400.00")
    assert levels["vip"].share == 60.0 and levels["active"].share == 40.0
    assert levels["potential"].share == 0.0


def test_funnel_of_the_customers_added_in_the_period(world, manager):
    steps = {s.key: s for s in lifecycle_funnel(Scope(manager), NOV)}
    assert {k: s.count for k, s in steps.items()} == {"added": 4, "bought": 3, "existing": 1, "churned": 1}
    assert steps["bought"].rate == 75.0
    assert steps["existing"].rate == pytest.approx(33.3)
    assert steps["churned"].rate == pytest.approx(33.3)


def test_transitions_are_net_moves_between_the_two_dates(world, manager, admin_user):
    moves = {(f.source, f.target): f.count for f in tier_transitions(Scope(manager), NOV).flows}
    # vip: active→vip; active: first classified, ends active; potential went and came back
    # (no move); dormant changed before the period; old: vip→active.
    assert moves == {("active", "vip"): 1, ("none", "active"): 1, ("vip", "active"): 1}
    everyone = tier_transitions(Scope(admin_user), NOV)
    assert everyone.total == 4 and everyone.cell("potential", "vip").count == 1


def test_process_numbers(world, manager):
    steps = {s.key: s.count for s in maintenance_process(Scope(manager), NOV)}
    assert steps["worked"] == 1  # the prospect contacted today
    assert steps["warnings"] == 1
    assert steps["win_backs"] == 1
    # Everyone's details are unconfirmed except the old customer's.
    assert steps["check_in"] == 4


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
def test_every_number_opens_a_list_with_the_same_count(world, client, request, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("reports:maintenance"), NOV_QUERY)
    assert response.status_code == 200
    ctx = response.context

    def count(url):
        page = client.get(url)
        assert page.status_code == 200, url
        return page.context["page"].count

    for level in ctx["pyramid"]:
        assert count(level.url) == level.count, level.key
        orders = client.get(level.revenue_url).context["page"].object_list
        assert sum(o.total for o in orders) == level.revenue, level.key
    for step in ctx["funnel"]:
        assert count(step.url) == step.count, step.key
    for _label, cells in ctx["transitions"].matrix:
        for value, url in cells:
            if value is not None:
                assert count(url) == value, url
    for step in ctx["process"]:
        assert count(step.url) == step.count, step.key


def test_the_page_shows_the_diagram_in_english_and_chinese(world, client, manager):
    client.force_login(manager)
    html = client.get(reverse("reports:maintenance"), NOV_QUERY, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Customer maintenance diagram" in html and 'data-testid="transition-matrix"' in html
    assert html.count("<polygon") == 4 and html.count("<path d=") == 3
    assert "别队客户" not in html
    manager.language = "zh-hans"
    manager.save(update_fields=["language"])
    html = client.get(reverse("reports:maintenance"), NOV_QUERY).content.decode()
    assert "客户管理维护图" in html and "分级金字塔" in html


def test_query_count_is_bounded(world, client, admin_user, django_assert_max_num_queries):
    client.force_login(admin_user)
    client.get(reverse("reports:maintenance"), NOV_QUERY)
    # session, user, pyramid (2), funnel, transitions, process (2), the navbar's task and
    # notification counts, team choices, the session's savepoint and update.
    with django_assert_max_num_queries(14):
        client.get(reverse("reports:maintenance"), NOV_QUERY)


def test_bad_dates_fall_back_with_a_message(world, client, manager):
    client.force_login(manager)
    response = client.get(reverse("reports:maintenance"), {"start": "2026-12-01", "end": "2026-01-01"})
    assert response.status_code == 200
    assert b'data-testid="filter-errors"' in response.content
