"""Customer behaviour analysis against a hand-built data set: purchases per tier, product mix,
channels, ticket resolution times, the RFM matrix and staff activity, with scoping and links."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.models import Interaction, Task, Ticket
from interactions.tests.factories import make_interaction, make_task, make_ticket
from reports.behaviour import (
    channels_chart,
    product_mix,
    purchases_by_tier,
    response_chart,
    rfm_matrix,
    staff_activity,
)
from reports.scope import Period, Scope
from sales.models import Opportunity
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order, make_product

NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
NOV_QUERY = {"start": "2026-11-01", "end": "2026-11-30"}


def at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def world(rep, teammate, manager, other_rep, admin_user):
    stages = ensure_default_pipeline()
    chairs = make_product(name="椅子", category="家具", unit_price=Decimal("100"))
    paper = make_product(name="纸", category="耗材", unit_price=Decimal("10"))
    vip = CustomerFactory(name="贵宾", owner=rep)
    active = CustomerFactory(name="活跃", owner=teammate)
    elsewhere = CustomerFactory(name="别队", owner=other_rep)
    make_order(vip, rep, [(chairs, 3), (paper, 10)], ordered_at=at(date(2026, 11, 2)))  # 300 + 100
    make_order(vip, rep, [(chairs, 1, 100, 50)], ordered_at=at(date(2026, 11, 20)))  # 50
    make_order(active, teammate, [(paper, 5)], ordered_at=at(date(2026, 11, 21)))  # 50
    make_order(elsewhere, other_rep, [(chairs, 10)], ordered_at=at(date(2026, 11, 21)))
    for c, tier, rfm in ((vip, "vip", "545"), (active, "active", "343"), (elsewhere, "vip", "555")):
        Customer.objects.filter(pk=c.pk).update(value_tier=tier, rfm_score=rfm)

    make_interaction(vip, rep, channel=Interaction.Channel.PHONE, occurred_at=at(date(2026, 11, 3)))
    make_interaction(vip, rep, channel=Interaction.Channel.WECHAT, occurred_at=at(date(2026, 11, 4)))
    make_interaction(active, teammate, channel=Interaction.Channel.PHONE, occurred_at=at(date(2026, 11, 5)))
    make_interaction(
        elsewhere, other_rep, channel=Interaction.Channel.PHONE, occurred_at=at(date(2026, 11, 5))
    )

    fast = make_ticket(vip, rep)
    slow = make_ticket(active, teammate)
    Ticket.objects.filter(pk=fast.pk).update(
        status=Ticket.Status.RESOLVED,
        created_at=at(date(2026, 11, 24), 8),
        resolved_at=at(date(2026, 11, 24), 12),
    )
    Ticket.objects.filter(pk=slow.pk).update(
        status=Ticket.Status.RESOLVED,
        created_at=at(date(2026, 11, 23), 10),
        resolved_at=at(date(2026, 11, 25), 10),
    )

    done = make_task(rep, vip)
    Task.objects.filter(pk=done.pk).update(status=Task.Status.DONE, completed_at=at(date(2026, 11, 10)))
    make_task(teammate, active, due_at=timezone.now() - timedelta(days=1))

    won = make_opportunity(vip, rep, amount=Decimal("8000"))
    Opportunity.objects.filter(pk=won.pk).update(stage=stages["Won"], closed_at=at(date(2026, 11, 15)))
    return locals()


def test_purchases_by_tier(world, manager):
    rows = {r.tier: r for r in purchases_by_tier(Scope(manager), NOV)}
    vip, active = rows["vip"], rows["active"]
    assert (vip.customers, vip.buyers, vip.orders, vip.revenue) == (1, 1, 2, Decimal("450.00"))
    assert vip.frequency == 2.0 and vip.basket == Decimal("225.00")
    assert (active.orders, active.revenue, active.basket) == (1, Decimal("50.00"), Decimal("50.00"))
    assert rows["dormant"].orders == 0 and rows["dormant"].frequency is None
    assert vip.recency is not None and vip.recency >= 0


def test_product_mix_shares_by_amount(world, manager):
    mix = product_mix(Scope(manager), NOV)
    assert mix.categories == ["家具", "耗材"]
    shares = dict(mix.rows)
    vip_label = str(Customer.ValueTier.VIP.label)
    # VIP: chairs 300 + 50 (half price), paper 100 → 77.8 % / 22.2 %
    assert shares[vip_label] == [77.8, 22.2]
    assert shares[str(Customer.ValueTier.ACTIVE.label)] == [0.0, 100.0]
    assert shares[str(Customer.ValueTier.DORMANT.label)] == [None, None]


def test_channels_and_resolution_times(world, manager, client):
    channels = {p.label: p.value for p in channels_chart(Scope(manager), NOV).points}
    assert channels[str(Interaction.Channel.PHONE.label)] == 2
    assert channels[str(Interaction.Channel.WECHAT.label)] == 1
    response = response_chart(Scope(manager), NOV)
    week = [p for p in response.points if p.value]
    assert len(week) == 1 and week[0].value == 26.0  # (4 h + 48 h) / 2, the week of 23 November
    client.force_login(manager)
    page = client.get(week[0].url)
    assert page.context["page"].count == 2


def test_rfm_matrix(world, manager, admin_user, client):
    matrix = rfm_matrix(Scope(manager))
    cells = {(r, f): cell for r, row in matrix.rows for f, cell in enumerate(row, start=1)}
    assert cells[(5, 4)][0] == 1 and cells[(3, 4)][0] == 1 and cells[(5, 5)][0] == 0
    assert matrix.scored == 2
    assert rfm_matrix(Scope(admin_user)).scored == 3
    client.force_login(manager)
    assert client.get(cells[(5, 4)][1]).context["page"].count == 1


def test_staff_activity(world, manager, rep, teammate, client):
    rows = {r.name: r for r in staff_activity(Scope(manager), NOV)}
    assert set(rows) == {str(rep), str(teammate)}
    mine = rows[str(rep)]
    assert (mine.interactions, mine.tasks_done, mine.tasks_overdue, mine.deals_won) == (2, 1, 0, 1)
    assert mine.won_amount == Decimal("8000.00")
    assert rows[str(teammate)].tasks_overdue == 1
    client.force_login(manager)
    assert client.get(mine.interactions_url).context["page"].count == 2
    assert client.get(mine.won_url).context["page"].count == 1


def test_a_rep_sees_only_their_own(world, rep):
    rows = staff_activity(Scope(rep), NOV)
    assert [r.name for r in rows] == [str(rep)]
    tiers = {r.tier: r for r in purchases_by_tier(Scope(rep), NOV)}
    assert tiers["active"].orders == 0


def test_the_page_in_both_languages(world, client, manager, django_assert_max_num_queries):
    client.force_login(manager)
    html = client.get(reverse("reports:behaviour"), NOV_QUERY, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Customer behaviour analysis" in html and 'data-testid="rfm-matrix"' in html
    assert "别队" not in html
    manager.language = "zh-hans"
    manager.save(update_fields=["language"])
    with django_assert_max_num_queries(22):
        html = client.get(reverse("reports:behaviour"), NOV_QUERY).content.decode()
    assert "客户行为分析" in html and "RFM 矩阵" in html
