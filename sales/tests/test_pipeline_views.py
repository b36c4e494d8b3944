"""Opportunity pages, the pipeline board and the forecast: create / edit / move through the
client, visibility and permissions, stage history, the stage follow-up rule, bounded
query counts, and the board's and forecast's sums."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import Task
from sales import services
from sales.models import Opportunity, OpportunityStageChange, PipelineStage, Product

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def stages() -> dict[str, PipelineStage]:
    """The default pipeline of the data migration, by English name."""
    return {s.name_en: s for s in PipelineStage.objects.all()}


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


def make_opportunity(customer, user, **data) -> Opportunity:
    data.setdefault("title", "年度采购")
    data.setdefault("amount", Decimal("10000.00"))
    return services.opportunity_create(user=user, data={"customer": customer, **data})


def _valid_form(stage_: PipelineStage, **overrides) -> dict:
    data = {
        "title": "  办公家具  采购 ",
        "needs": "二十张办公桌",
        "amount": "120000.00",
        "currency": "CNY",
        "stage": stage_.pk,
        "probability": "",
        "expected_close_date": "2026-09-30",
        "source": "",
        "next_step": "发报价单",
        "lost_reason": "",
    }
    data.update(overrides)
    return data


def _stage_tasks(opportunity: Opportunity, stage: PipelineStage):
    return Task.objects.filter(
        subject_type=ContentType.objects.get_for_model(Opportunity),
        subject_id=opportunity.pk,
        rule=f"stage_entered:{stage.pk}",
    )


# --- create -------------------------------------------------------------------------------


def test_rep_creates_an_opportunity_and_the_stage_rule_makes_a_follow_up_task(client, rep, customer, stages):
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/new/?customer={customer.pk}", _valid_form(stages["Qualification"])
    )
    opportunity = Opportunity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sales/opportunities/{opportunity.pk}/"
    assert opportunity.title == "办公家具 采购"
    assert opportunity.customer == customer
    assert opportunity.owner == rep and opportunity.team == rep.team and opportunity.created_by == rep
    assert opportunity.amount == Decimal("120000.00")
    assert opportunity.probability == 10  # empty → the stage's default
    assert opportunity.expected_close_date == date(2026, 9, 30)
    assert list(opportunity.stage_changes.values_list("from_stage", "to_stage")) == [
        (None, stages["Qualification"].pk)
    ]
    assert _stage_tasks(opportunity, stages["Qualification"]).get().assignee == rep


def test_create_keeps_a_probability_typed_in(client, rep, customer, stages):
    client.force_login(rep)
    client.post(
        f"/sales/opportunities/new/?customer={customer.pk}",
        _valid_form(stages["Proposal"], probability="60"),
    )
    opportunity = Opportunity.objects.get()
    assert opportunity.stage == stages["Proposal"] and opportunity.probability == 60


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "-1"),
        ("amount", "abc"),
        ("probability", "150"),
        ("probability", "-5"),
        ("stage", "999999"),
        ("title", "   "),
        ("currency", "JPY"),
    ],
)
def test_create_refuses_bad_input(client, rep, customer, stages, field, value):
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/new/?customer={customer.pk}",
        _valid_form(stages["Qualification"], **{field: value}),
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Opportunity.objects.exists()


def test_create_in_the_lost_stage_needs_a_reason(client, rep, customer, stages):
    client.force_login(rep)
    response = client.post(f"/sales/opportunities/new/?customer={customer.pk}", _valid_form(stages["Lost"]))
    assert "lost_reason" in response.context["form"].errors
    assert not Opportunity.objects.exists()


def test_create_for_a_customer_the_user_cannot_see_is_404(client, rep, other_rep, stages):
    theirs = CustomerFactory(name="别人的客户", owner=other_rep)
    client.force_login(rep)
    url = f"/sales/opportunities/new/?customer={theirs.pk}"
    assert client.get(url).status_code == 404
    assert client.post(url, _valid_form(stages["Qualification"])).status_code == 404
    assert client.get("/sales/opportunities/new/?customer=abc").status_code == 404
    assert not Opportunity.objects.exists()


def test_customer_service_may_not_create_opportunities(client, service, customer, stages):
    client.force_login(service)
    url = f"/sales/opportunities/new/?customer={customer.pk}"
    assert client.get(url).status_code == 403
    assert client.post(url, _valid_form(stages["Qualification"])).status_code == 403
    assert not Opportunity.objects.exists()


def test_a_rep_owns_what_they_create_and_a_manager_may_choose_the_owner(
    client, rep, teammate, manager, stages
):
    customer = CustomerFactory(name="客户甲", owner=rep)
    client.force_login(rep)
    form = client.get(f"/sales/opportunities/new/?customer={customer.pk}").context["form"]
    assert "owner" not in form.fields
    client.post(
        f"/sales/opportunities/new/?customer={customer.pk}",
        _valid_form(stages["Qualification"], owner=teammate.pk),
    )
    assert Opportunity.objects.get().owner == rep  # a posted owner is ignored

    client.force_login(manager)
    client.post(
        f"/sales/opportunities/new/?customer={customer.pk}",
        _valid_form(stages["Qualification"], title="经理分配", owner=teammate.pk),
    )
    assigned = Opportunity.objects.get(title="经理分配")
    assert assigned.owner == teammate and assigned.team == teammate.team


def test_create_without_a_customer_asks_for_one_among_visible_customers(client, rep, other_rep):
    CustomerFactory(name="张三丰", owner=rep)
    CustomerFactory(name="张无忌", owner=other_rep)
    client.force_login(rep)
    assert client.get("/sales/opportunities/new/").status_code == 200
    response = client.post("/sales/opportunities/new/", {"q": "张"})
    assert [c.name for c in response.context["candidates"]] == ["张三丰"]


# --- edit ---------------------------------------------------------------------------------


def test_edit_changes_fields_and_moves_the_stage_through_the_service(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"])
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/edit/",
        _valid_form(stages["Proposal"], title="改过的标题", amount="5000"),
    )
    assert response.status_code == 302
    opportunity.refresh_from_db()
    assert opportunity.title == "改过的标题" and opportunity.amount == Decimal("5000")
    assert opportunity.stage == stages["Proposal"] and opportunity.probability == 50
    change = opportunity.stage_changes.last()
    assert (change.from_stage, change.to_stage, change.changed_by) == (
        stages["Qualification"],
        stages["Proposal"],
        rep,
    )
    assert _stage_tasks(opportunity, stages["Proposal"]).count() == 1


def test_edit_to_lost_needs_and_keeps_the_reason(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Proposal"])
    client.force_login(rep)
    url = f"/sales/opportunities/{opportunity.pk}/edit/"
    response = client.post(url, _valid_form(stages["Lost"]))
    assert "lost_reason" in response.context["form"].errors
    response = client.post(url, _valid_form(stages["Lost"], lost_reason="预算取消"))
    assert response.status_code == 302
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Lost"] and opportunity.lost_reason == "预算取消"
    assert opportunity.stage_changes.last().to_stage == stages["Lost"]


def test_edit_permissions(client, rep, other_rep, service, customer, stages):
    opportunity = make_opportunity(customer, rep)
    url = f"/sales/opportunities/{opportunity.pk}/edit/"
    client.force_login(other_rep)
    assert client.get(url).status_code == 404
    client.force_login(service)
    assert client.get(url).status_code == 403
    assert client.post(url, _valid_form(stages["Won"])).status_code == 403
    client.force_login(rep)
    assert client.get(url).status_code == 200


# --- list ---------------------------------------------------------------------------------


def _titles(response) -> list[str]:
    return [o.title for o in response.context["page"].object_list]


def test_list_shows_only_visible_opportunities(client, rep, teammate, manager, other_rep, other_manager):
    make_opportunity(CustomerFactory(owner=rep), rep, title="甲的")
    make_opportunity(CustomerFactory(owner=teammate), teammate, title="乙的")
    make_opportunity(CustomerFactory(owner=other_rep), other_rep, title="外队的")

    client.force_login(rep)
    assert _titles(client.get("/sales/opportunities/")) == ["甲的"]
    client.force_login(manager)
    assert sorted(_titles(client.get("/sales/opportunities/"))) == ["乙的", "甲的"]
    client.force_login(other_manager)
    assert _titles(client.get("/sales/opportunities/")) == ["外队的"]
    # A rep of another team sees nothing of this team, even when searching for it.
    client.force_login(other_rep)
    assert _titles(client.get("/sales/opportunities/?q=甲的")) == []


def test_list_filters(client, rep, stages):
    a = CustomerFactory(name="华为技术", owner=rep)
    b = CustomerFactory(name="小米科技", owner=rep)
    make_opportunity(a, rep, title="服务器", amount=Decimal("500000"), expected_close_date=date(2026, 5, 10))
    make_opportunity(b, rep, title="笔记本", amount=Decimal("20000"), expected_close_date=date(2026, 7, 1))
    won = make_opportunity(b, rep, title="手机", amount=Decimal("8000"))
    services.opportunity_move(opportunity=won, stage=stages["Won"], user=rep)
    client.force_login(rep)

    def titles(query: str) -> list[str]:
        return sorted(_titles(client.get("/sales/opportunities/?" + query)))

    assert titles(f"stage={stages['Won'].pk}") == ["手机"]
    assert titles("open_only=on") == ["服务器", "笔记本"]
    assert titles("amount_min=10000&amount_max=100000") == ["笔记本"]
    assert titles("expected_close_after=2026-05-01&expected_close_before=2026-05-31") == ["服务器"]
    assert titles("q=笔记") == ["笔记本"]  # by title
    assert titles("q=小米") == ["手机", "笔记本"]  # by customer name
    assert titles("q=xiaomi") == ["手机", "笔记本"]  # by the customer's pinyin
    assert titles("amount_min=abc") == ["手机", "服务器", "笔记本"]  # bad filters are ignored


def test_manager_filters_by_owner_and_rep_gets_no_owner_filter(client, rep, teammate, manager):
    make_opportunity(CustomerFactory(owner=rep), rep, title="甲的")
    make_opportunity(CustomerFactory(owner=teammate), teammate, title="乙的")
    client.force_login(manager)
    assert _titles(client.get(f"/sales/opportunities/?owner={teammate.pk}")) == ["乙的"]
    client.force_login(rep)
    response = client.get(f"/sales/opportunities/?owner={teammate.pk}")
    assert "owner" not in response.context["filter"].form.fields


def test_list_sorts_by_amount_and_close_date(client, rep, customer):
    make_opportunity(customer, rep, title="中", amount=Decimal("500"), expected_close_date=date(2026, 6, 1))
    make_opportunity(customer, rep, title="大", amount=Decimal("900"))
    make_opportunity(customer, rep, title="小", amount=Decimal("100"), expected_close_date=date(2026, 5, 1))
    client.force_login(rep)
    assert _titles(client.get("/sales/opportunities/?sort=-amount")) == ["大", "中", "小"]
    assert _titles(client.get("/sales/opportunities/?sort=amount")) == ["小", "中", "大"]
    # Undated opportunities come last when sorting by the soonest close date.
    assert _titles(client.get("/sales/opportunities/?sort=close")) == ["小", "中", "大"]


def test_list_pages_walk_the_whole_list(client, rep, customer):
    for i in range(30):
        make_opportunity(customer, rep, title=f"商机{i:02d}", amount=Decimal(100 + i % 7))
    client.force_login(rep)
    seen: list[str] = []
    url = "/sales/opportunities/?sort=-amount&per_page=25"
    while url:
        response = client.get(url)
        seen.extend(_titles(response))
        page = response.context["page"]
        url = (
            f"/sales/opportunities/?sort=-amount&per_page=25&cursor={page.next_cursor}"
            if page.has_next
            else None
        )
    assert sorted(seen) == sorted(f"商机{i:02d}" for i in range(30))  # each exactly once
    amounts = [Opportunity.objects.get(title=t).amount for t in seen]
    assert amounts == sorted(amounts, reverse=True)


def test_list_query_count_is_independent_of_page_size(client, rep, customer):
    for i in range(60):
        make_opportunity(customer, rep, title=f"商机{i:02d}")
    client.force_login(rep)
    counts = {}
    for per_page in (25, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/sales/opportunities/?per_page={per_page}")
        assert len(response.context["page"].object_list) == per_page
        counts[per_page] = len(ctx.captured_queries)
    # session, user, user and group permissions (2), managed teams (scope), stage choices,
    # capped count, the page (customer, owner and stage joined), unread notifications,
    # tasks due (navigation badge); saving the session (idle timeout,
    # SESSION_SAVE_EVERY_REQUEST): an UPDATE, in a savepoint here (3); the custom-field
    # definitions (columns and filters).
    assert counts[25] == counts[50]
    assert counts[50] == 14, counts


# --- detail -------------------------------------------------------------------------------


def test_detail_shows_stage_history_with_time_spent(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"])
    entered = timezone.now() - timedelta(days=3, hours=4, minutes=10)
    Opportunity.objects.filter(pk=opportunity.pk).update(stage_entered_at=entered)
    services.opportunity_move(opportunity=opportunity, stage=stages["Needs analysis"], user=rep)
    change = OpportunityStageChange.objects.get(to_stage=stages["Needs analysis"])
    assert 3 * 86400 + 4 * 3600 <= change.seconds_in_previous < 3 * 86400 + 5 * 3600

    client.force_login(rep)
    response = client.get(f"/sales/opportunities/{opportunity.pk}/", **ENGLISH)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Qualification" in html and "Needs analysis" in html
    assert "3\xa0days, 4\xa0hours" in html  # time in the previous stage, humanised
    durations = {d["stage"].name_en: d["seconds"] for d in response.context["durations"]}
    assert durations["Qualification"] == change.seconds_in_previous
    assert "Needs analysis" in durations  # the current stage counts until now


def test_detail_lists_tasks_about_the_opportunity_and_the_linked_order(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"])
    client.force_login(rep)
    response = client.get(f"/sales/opportunities/{opportunity.pk}/")
    assert [t.pk for t in response.context["tasks"]] == [
        _stage_tasks(opportunity, stages["Qualification"]).get().pk
    ]
    assert 'data-testid="create-order"' not in response.content.decode()

    product = Product.objects.create(name="办公桌", sku="DESK-1", unit_price=Decimal("1000"))
    order = services.order_create(
        user=rep,
        data={"customer": customer},
        lines=[services.LineData(product=product, quantity=Decimal("2"))],
        opportunity=opportunity,
    )
    html = client.get(f"/sales/opportunities/{opportunity.pk}/").content.decode()
    assert f'href="/sales/orders/{order.pk}/"' in html


def test_detail_permissions(client, rep, other_rep, service, manager, customer):
    opportunity = make_opportunity(customer, rep)
    url = f"/sales/opportunities/{opportunity.pk}/"
    client.force_login(other_rep)
    assert client.get(url).status_code == 404
    for user in (rep, manager, service):
        client.force_login(user)
        assert client.get(url).status_code == 200
    # Service reads but gets no move or edit controls.
    client.force_login(service)
    html = client.get(url).content.decode()
    assert 'data-testid="move-form"' not in html and 'data-testid="edit-opportunity"' not in html


# --- move ---------------------------------------------------------------------------------


def test_move_with_the_form_goes_back_to_the_board(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"])
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": stages["Needs analysis"].pk, "next": "/sales/pipeline/?month=2026-05"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/sales/pipeline/?month=2026-05"
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Needs analysis"] and opportunity.probability == 25
    assert opportunity.stage_changes.count() == 2
    assert _stage_tasks(opportunity, stages["Needs analysis"]).count() == 1


def test_move_ignores_an_unsafe_next(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": stages["Proposal"].pk, "next": "https://evil.example.com/"},
    )
    assert response["Location"] == f"/sales/opportunities/{opportunity.pk}/"


def test_move_with_fetch_answers_json_with_the_column_totals(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"], amount=Decimal("1000"))
    make_opportunity(customer, rep, stage=stages["Needs analysis"], amount=Decimal("3000"))
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": stages["Needs analysis"].pk},
        **FETCH,
        **ENGLISH,
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and data["stage"] == stages["Needs analysis"].pk
    assert data["probability"] == 25
    totals = data["column_totals"]
    assert totals[str(stages["Qualification"].pk)]["count"] == 0
    assert totals[str(stages["Needs analysis"].pk)] == {
        "count": 2,
        "amount": "¥4,000.00",
        "weighted": "¥1,000.00",
    }
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Needs analysis"]
    assert OpportunityStageChange.objects.filter(opportunity=opportunity).count() == 2


def test_fetch_totals_follow_the_board_filters(client, rep, teammate, manager, stages):
    mine = make_opportunity(CustomerFactory(owner=rep), rep, amount=Decimal("1000"))
    make_opportunity(CustomerFactory(owner=teammate), teammate, amount=Decimal("7000"))
    client.force_login(manager)
    response = client.post(
        f"/sales/opportunities/{mine.pk}/move/",
        {"stage": stages["Proposal"].pk, "board_query": f"owner={rep.pk}"},
        **FETCH,
        **ENGLISH,
    )
    totals = response.json()["column_totals"]
    assert totals[str(stages["Qualification"].pk)]["count"] == 0  # the teammate's is filtered out
    assert totals[str(stages["Proposal"].pk)]["amount"] == "¥1,000.00"


def test_each_entry_into_a_stage_makes_one_follow_up_task(client, rep, customer, stages):
    """Moving back and forth creates one task per entry (by design), and a move to the
    stage it is already in creates nothing."""
    opportunity = make_opportunity(customer, rep, stage=stages["Qualification"])
    client.force_login(rep)
    url = f"/sales/opportunities/{opportunity.pk}/move/"
    client.post(url, {"stage": stages["Proposal"].pk}, **FETCH)
    client.post(url, {"stage": stages["Proposal"].pk}, **FETCH)  # already there
    assert _stage_tasks(opportunity, stages["Proposal"]).count() == 1
    assert opportunity.stage_changes.count() == 2
    client.post(url, {"stage": stages["Qualification"].pk}, **FETCH)
    client.post(url, {"stage": stages["Proposal"].pk}, **FETCH)
    assert _stage_tasks(opportunity, stages["Proposal"]).count() == 2
    assert _stage_tasks(opportunity, stages["Qualification"]).count() == 2


def test_lost_needs_a_reason(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Proposal"])
    client.force_login(rep)
    url = f"/sales/opportunities/{opportunity.pk}/move/"

    response = client.post(url, {"stage": stages["Lost"].pk}, **FETCH, **ENGLISH)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "Say why the opportunity was lost."}

    # Without script: an error message and the detail page's move form, set to lost.
    response = client.post(url, {"stage": stages["Lost"].pk, "next": "/sales/pipeline/"}, **ENGLISH)
    assert response.status_code == 302
    assert response["Location"] == f"/sales/opportunities/{opportunity.pk}/?move_to={stages['Lost'].pk}#move"
    page = client.get(response["Location"], **ENGLISH)
    assert "Say why the opportunity was lost." in page.content.decode()
    assert page.context["move_form"]["stage"].value() == stages["Lost"].pk
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Proposal"] and opportunity.stage_changes.count() == 1

    response = client.post(url, {"stage": stages["Lost"].pk, "lost_reason": " 价格太高 "}, **FETCH)
    assert response.status_code == 200
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Lost"] and opportunity.lost_reason == "价格太高"
    assert opportunity.closed_at is not None and opportunity.probability == 0


def test_won_offers_to_create_the_order(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep, stage=stages["Negotiation"])
    client.force_login(rep)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": stages["Won"].pk, "next": "/sales/pipeline/"},
    )
    # Won goes to the detail page (not back to the board), which offers the order.
    assert response["Location"] == f"/sales/opportunities/{opportunity.pk}/"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert 'data-testid="create-order"' in html
    assert f'href="/sales/orders/new/?customer={customer.pk}&amp;opportunity={opportunity.pk}"' in html
    assert len(list(page.context["messages"])) == 1
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Won"] and opportunity.probability == 100 and opportunity.closed_at


def test_won_by_fetch_answers_with_the_order_link(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    client.force_login(rep)
    data = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/", {"stage": stages["Won"].pk}, **FETCH
    ).json()
    assert data["won"] is True
    assert data["order_url"] == f"/sales/orders/new/?customer={customer.pk}&opportunity={opportunity.pk}"


def test_move_to_an_unknown_or_inactive_stage_is_refused(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    old = PipelineStage.objects.create(name="旧阶段", name_en="Old", order=5, active=False)
    client.force_login(rep)
    url = f"/sales/opportunities/{opportunity.pk}/move/"
    for stage in ("999999", str(old.pk), ""):
        response = client.post(url, {"stage": stage}, **FETCH)
        assert response.status_code == 400
        assert response.json()["ok"] is False
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Qualification"]


def test_move_permissions(client, rep, other_rep, service, manager, customer, stages):
    opportunity = make_opportunity(customer, rep)
    url = f"/sales/opportunities/{opportunity.pk}/move/"
    data = {"stage": stages["Proposal"].pk}
    client.force_login(other_rep)
    assert client.post(url, data).status_code == 404
    assert client.post(url, data, **FETCH).status_code == 404
    client.force_login(service)
    assert client.post(url, data).status_code == 403
    response = client.post(url, data, **FETCH)
    assert response.status_code == 403 and response.json()["ok"] is False
    client.force_login(rep)
    assert client.get(url).status_code == 405
    opportunity.refresh_from_db()
    assert opportunity.stage == stages["Qualification"]
    # The team's manager may move it.
    client.force_login(manager)
    assert client.post(url, data, **FETCH).status_code == 200


# --- the board ----------------------------------------------------------------------------


def _board_queries(client, url: str = "/sales/pipeline/") -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **ENGLISH)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_board_query_count_does_not_grow_with_the_opportunities(client, rep, customer, stages):
    open_stages = [s for s in stages.values() if s.kind == "open"]
    for i in range(5):
        make_opportunity(customer, rep, title=f"商机{i}", stage=open_stages[i % 4])
    client.force_login(rep)
    few, _response = _board_queries(client)
    for i in range(55):
        make_opportunity(customer, rep, title=f"更多{i}", stage=open_stages[i % 4])
    many, response = _board_queries(client)
    # session, user, perms (2), the stages, managed teams (scope), one aggregate for every
    # column's totals, one query per column (6) for its cards, tasks due and unread
    # notifications (navigation); saving the session (idle timeout,
    # SESSION_SAVE_EVERY_REQUEST): an UPDATE, in a savepoint here (3).
    assert few == many
    assert many == 18, many
    assert sum(c["totals"]["count"] for c in response.context["columns"]) == 60


def test_board_query_count_for_a_manager_with_filters(client, rep, manager, customer, stages):
    for i in range(10):
        make_opportunity(customer, rep, title=f"商机{i}")
    client.force_login(manager)
    count, _response = _board_queries(client, f"/sales/pipeline/?owner={rep.pk}&month=2026-05")
    # The rep's 18, plus the filter form's owner lookup (validating ?owner=) and its owner
    # and team choices.
    assert count == 21, count


def test_board_columns_show_counts_and_totals(client, rep, customer, stages):
    make_opportunity(customer, rep, stage=stages["Proposal"], amount=Decimal("1000.00"))
    make_opportunity(customer, rep, stage=stages["Proposal"], amount=Decimal("2345.67"))
    make_opportunity(customer, rep, stage=stages["Proposal"], amount=Decimal("500"), currency="USD")
    make_opportunity(customer, rep, stage=stages["Negotiation"], amount=Decimal("10000"), probability=80)
    client.force_login(rep)
    _count, response = _board_queries(client)
    columns = {c["stage"].name_en: c for c in response.context["columns"]}
    assert list(columns) == ["Qualification", "Needs analysis", "Proposal", "Negotiation", "Won", "Lost"]
    assert columns["Proposal"]["totals"] == {
        "count": 3,
        # 50 % of 1000 + 50 % of 2345.67 = 500 + 1172.84 (each rounded to cents);
        # US dollars are shown next to yuan, never added to them.
        "amount": "¥3,345.67 + USD 500.00",
        "weighted": "¥1,672.84 + USD 250.00",
    }
    assert columns["Negotiation"]["totals"]["weighted"] == "¥8,000.00"
    assert columns["Qualification"]["totals"] == {"count": 0, "amount": "¥0.00", "weighted": "¥0.00"}
    html = response.content.decode()
    assert html.count('data-testid="board-card"') == 4
    assert "sales/board.js" in html


def test_board_shows_at_most_30_cards_per_column_and_links_to_the_rest(client, rep, customer, stages):
    for i in range(33):
        make_opportunity(customer, rep, title=f"商机{i}")
    client.force_login(rep)
    response = client.get("/sales/pipeline/")
    first = response.context["columns"][0]
    assert len(first["cards"]) == 30 and first["totals"]["count"] == 33
    assert first["cards"][0].title == "商机32"  # newest first
    assert f"/sales/opportunities/?stage={stages['Qualification'].pk}" in first["show_all_url"]
    assert 'data-testid="show-all"' in response.content.decode()


def test_board_won_and_lost_columns_count_this_month_only(client, rep, customer, stages):
    old = make_opportunity(customer, rep, title="去年赢的")
    services.opportunity_move(opportunity=old, stage=stages["Won"], user=rep)
    Opportunity.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=400))
    new = make_opportunity(customer, rep, title="刚赢的", amount=Decimal("300"))
    services.opportunity_move(opportunity=new, stage=stages["Won"], user=rep)
    client.force_login(rep)
    won = client.get("/sales/pipeline/").context["columns"][4]
    assert [c.title for c in won["cards"]] == ["刚赢的"]
    assert won["totals"]["count"] == 1 and won["totals"]["amount"] == "¥300.00"
    assert "closed_after=" in won["show_all_url"]
    assert _titles(client.get(won["show_all_url"])) == ["刚赢的"]


def test_board_filters_by_owner_and_month(client, rep, teammate, manager, stages):
    make_opportunity(CustomerFactory(owner=rep), rep, title="五月", expected_close_date=date(2026, 5, 20))
    make_opportunity(CustomerFactory(owner=rep), rep, title="六月", expected_close_date=date(2026, 6, 1))
    make_opportunity(
        CustomerFactory(owner=teammate), teammate, title="队友", expected_close_date=date(2026, 5, 2)
    )
    client.force_login(manager)

    def titles(query: str) -> list[str]:
        response = client.get("/sales/pipeline/?" + query)
        return sorted(c.title for col in response.context["columns"] for c in col["cards"])

    assert titles("") == ["五月", "六月", "队友"]
    assert titles("month=2026-05") == ["五月", "队友"]
    assert titles(f"month=2026-05&owner={rep.pk}") == ["五月"]
    assert titles("month=garbage") == ["五月", "六月", "队友"]
    response = client.get(f"/sales/pipeline/?month=2026-05&owner={rep.pk}")
    link = response.context["columns"][0]["show_all_url"]
    assert "expected_close_after=2026-05-01" in link and "expected_close_before=2026-05-31" in link
    assert f"owner={rep.pk}" in link


def test_board_cards_mark_past_close_dates_and_carry_the_move_form(client, rep, customer, stages):
    make_opportunity(
        customer, rep, title="过期", expected_close_date=timezone.localdate() - timedelta(days=1)
    )
    make_opportunity(
        customer, rep, title="未到", expected_close_date=timezone.localdate() + timedelta(days=10)
    )
    client.force_login(rep)
    html = client.get("/sales/pipeline/").content.decode()
    assert html.count('data-testid="overdue"') == 1
    assert html.count('class="board-move-form') == 2
    assert 'name="next" value="/sales/pipeline/"' in html


def test_board_for_customer_service_is_read_only(client, service, rep, customer):
    make_opportunity(customer, rep)
    client.force_login(service)
    html = client.get("/sales/pipeline/").content.decode()
    assert 'data-testid="board-card"' in html
    assert "board-move-form" not in html and "sales/board.js" not in html


def test_board_of_another_team_is_empty(client, rep, other_rep, customer):
    make_opportunity(customer, rep)
    client.force_login(other_rep)
    response = client.get("/sales/pipeline/")
    assert all(c["totals"]["count"] == 0 for c in response.context["columns"])


# --- forecast -----------------------------------------------------------------------------

FROZEN = datetime(2026, 3, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@time_machine.travel(FROZEN, tick=False)
def test_forecast_sums_weighted_amounts_by_month_rep_and_team(
    client, rep, teammate, manager, other_rep, stages
):
    mine = CustomerFactory(owner=rep)
    theirs = CustomerFactory(owner=teammate)
    # rep: 10000 × 50 % in March, 20000 × 25 % in April, 1000 × 10 % without a date.
    make_opportunity(
        mine, rep, amount=Decimal("10000"), probability=50, expected_close_date=date(2026, 3, 31)
    )
    make_opportunity(mine, rep, amount=Decimal("20000"), probability=25, expected_close_date=date(2026, 4, 2))
    make_opportunity(mine, rep, amount=Decimal("1000"), probability=10)
    # teammate: 8000 × 75 % overdue (yesterday), 3333.33 × 33 % in August, 5000 × 40 % next year.
    make_opportunity(
        theirs, teammate, amount=Decimal("8000"), probability=75, expected_close_date=date(2026, 3, 14)
    )
    make_opportunity(
        theirs, teammate, amount=Decimal("3333.33"), probability=33, expected_close_date=date(2026, 8, 9)
    )
    make_opportunity(
        theirs, teammate, amount=Decimal("5000"), probability=40, expected_close_date=date(2027, 1, 5)
    )
    # Not in the forecast: won, another currency (shown apart), another team (not visible).
    won = make_opportunity(mine, rep, amount=Decimal("99999"), expected_close_date=date(2026, 3, 20))
    services.opportunity_move(opportunity=won, stage=stages["Won"], user=rep)
    make_opportunity(
        mine,
        rep,
        amount=Decimal("1000"),
        currency="USD",
        probability=50,
        expected_close_date=date(2026, 3, 20),
    )
    make_opportunity(
        CustomerFactory(owner=other_rep),
        other_rep,
        amount=Decimal("777"),
        expected_close_date=date(2026, 3, 20),
    )

    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/sales/forecast/", **ENGLISH)
    assert response.status_code == 200
    assert sum("GROUP BY" in q["sql"] for q in ctx.captured_queries) == 1
    ctx = response.context
    assert ctx["months"] == [date(2026, m, 1) for m in range(3, 9)]
    # Columns: overdue, Mar … Aug, later, no date.
    d = Decimal
    (team,) = ctx["table"]
    reps = {r["name"]: r for r in team["reps"]}
    assert reps[str(rep)]["cells"] == [
        d(0),
        d("5000.00"),
        d("5000.00"),
        d(0),
        d(0),
        d(0),
        d(0),
        d(0),
        d("100.00"),
    ]
    assert reps[str(rep)]["total"] == d("10100.00")
    assert reps[str(teammate)]["cells"] == [
        d("6000.00"),
        d(0),
        d(0),
        d(0),
        d(0),
        d(0),
        d("1100.00"),
        d("2000.00"),
        d(0),
    ]
    assert team["total"] == d("10100.00") + d("6000.00") + d("1100.00") + d("2000.00")
    assert ctx["total"]["total"] == team["total"]
    assert ctx["total"]["cells"][1] == d("5000.00")
    (usd,) = ctx["other_rows"]
    assert usd["currency"] == "USD" and usd["cells"][1] == d("500.00")
    html = response.content.decode()
    assert "¥19,200.00" in html


@time_machine.travel(FROZEN, tick=False)
def test_forecast_of_a_rep_shows_only_their_own(client, rep, teammate):
    make_opportunity(
        CustomerFactory(owner=rep), rep, amount=Decimal("100"), expected_close_date=date(2026, 4, 1)
    )
    make_opportunity(
        CustomerFactory(owner=teammate), teammate, amount=Decimal("100"), expected_close_date=date(2026, 4, 1)
    )
    client.force_login(rep)
    table = client.get("/sales/forecast/").context["table"]
    assert [r["name"] for t in table for r in t["reps"]] == [str(rep)]


def test_forecast_query_count_does_not_grow(client, rep, customer):
    client.force_login(rep)
    make_opportunity(customer, rep, expected_close_date=timezone.localdate())
    with CaptureQueriesContext(connection) as few:
        client.get("/sales/forecast/")
    for i in range(30):
        make_opportunity(customer, rep, expected_close_date=timezone.localdate() + timedelta(days=i * 7))
    with CaptureQueriesContext(connection) as many:
        client.get("/sales/forecast/")
    assert len(few.captured_queries) == len(many.captured_queries)


def test_pages_need_a_login(client, customer, rep):
    opportunity = make_opportunity(customer, rep)
    for url in (
        "/sales/pipeline/",
        "/sales/opportunities/",
        "/sales/forecast/",
        f"/sales/opportunities/{opportunity.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_json_error_answers_are_json(client, rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    client.force_login(rep)
    response = client.post(f"/sales/opportunities/{opportunity.pk}/move/", {"stage": "x"}, **FETCH)
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["ok"] is False
