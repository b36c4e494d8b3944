"""The customer ledger: filters, sorting, keyset pages, saved views, bulk actions."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditLog
from customers.models import Customer, SavedView
from customers.tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


def _make_many(owner, count: int, **kwargs) -> list[Customer]:
    tags = [TagFactory(name="VIP客户"), TagFactory(name="华东")]
    customers = [CustomerFactory(name=f"客户{i:03d}", owner=owner, tags=tags, **kwargs) for i in range(count)]
    # Spread creation times so the default order is deterministic.
    now = timezone.now()
    for i, c in enumerate(customers):
        Customer.objects.filter(pk=c.pk).update(created_at=now - timedelta(minutes=i))
    return customers


def _names(response) -> list[str]:
    return [c.name for c in response.context["page"].object_list]


def test_list_query_count_is_bounded_and_independent_of_page_size(client, rep):
    _make_many(rep, 60)
    client.force_login(rep)
    counts = {}
    for per_page in (25, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/customers/?per_page={per_page}")
        assert response.status_code == 200
        assert len(response.context["page"].object_list) == per_page
        counts[per_page] = len(ctx.captured_queries)
    # session, user, user and group permissions (2), managed teams (scope, once), capped
    # count, the page (owner and team joined), tags of the page (one prefetch), saved
    # views, tag choices of the filter and of the bulk form, staff choices of the bulk
    # form, unread notifications (the bell), tasks due (the navigation badge); saving the
    # session (idle timeout, SESSION_SAVE_EVERY_REQUEST): an UPDATE, in a savepoint here (3);
    # the custom-field definitions (columns and filters, one query).
    assert counts[25] == counts[50]
    assert counts[50] == 17, counts


def test_manager_list_query_count_is_bounded(client, manager, rep, teammate):
    _make_many(rep, 30)
    _make_many(teammate, 30)
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/customers/?per_page=100&lifecycle_stage=prospect&tag=1")
    assert response.status_code == 200
    # The rep's 17, plus the manager's owner and team choices, and the tag filter's lookup.
    assert len(ctx.captured_queries) <= 21


def test_keyset_pages_walk_the_whole_list_without_gaps_or_repeats(client, rep):
    made = _make_many(rep, 60)
    client.force_login(rep)
    seen: list[str] = []
    url = "/customers/?per_page=25"
    while url:
        response = client.get(url)
        seen.extend(_names(response))
        page = response.context["page"]
        url = f"/customers/?per_page=25&cursor={page.next_cursor}" if page.has_next else None
    assert seen == [c.name for c in made]  # newest first, each exactly once
    # ... and back.
    last_page = response.context["page"]
    back = client.get(f"/customers/?per_page=25&cursor={last_page.prev_cursor}")
    assert _names(back) == [c.name for c in made][25:50]


def test_a_tampered_cursor_restarts_the_list(client, rep):
    _make_many(rep, 3)
    client.force_login(rep)
    response = client.get("/customers/?cursor=garbage!!")
    assert response.status_code == 200
    assert len(_names(response)) == 3


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("name", "A 客户"),
        ("-name", "Z 客户"),
        ("-contacted", "Z 客户"),
        ("contacted", "N 客户"),
        ("created", "A 客户"),
    ],
)
def test_sortable_columns(client, rep, sort, first):
    now = timezone.now()
    a = CustomerFactory(name="A 客户", owner=rep)
    z = CustomerFactory(name="Z 客户", owner=rep)
    n = CustomerFactory(name="N 客户", owner=rep)
    Customer.objects.filter(pk=a.pk).update(
        created_at=now - timedelta(days=3), last_contacted_at=now - timedelta(days=5)
    )
    Customer.objects.filter(pk=z.pk).update(created_at=now - timedelta(days=2), last_contacted_at=now)
    Customer.objects.filter(pk=n.pk).update(created_at=now - timedelta(days=1), last_contacted_at=None)
    client.force_login(rep)
    assert _names(client.get(f"/customers/?sort={sort}"))[0] == first


def test_never_contacted_customers_come_last_when_sorting_by_latest_contact(client, rep):
    now = timezone.now()
    for i, name in enumerate(["甲", "乙", "丙"]):
        c = CustomerFactory(name=name, owner=rep)
        Customer.objects.filter(pk=c.pk).update(
            last_contacted_at=None if name == "乙" else now - timedelta(days=i)
        )
    client.force_login(rep)
    assert _names(client.get("/customers/?sort=-contacted&per_page=25")) == ["甲", "丙", "乙"]


def test_filters_combine(client, rep):
    tag = TagFactory(name="重要")
    CustomerFactory(
        name="目标", owner=rep, lifecycle_stage="existing", value_tier="vip", province="上海市", tags=[tag]
    )
    CustomerFactory(
        name="阶段不对",
        owner=rep,
        lifecycle_stage="prospect",
        value_tier="vip",
        province="上海市",
        tags=[tag],
    )
    CustomerFactory(
        name="地区不对",
        owner=rep,
        lifecycle_stage="existing",
        value_tier="vip",
        province="北京市",
        tags=[tag],
    )
    CustomerFactory(
        name="没有标签", owner=rep, lifecycle_stage="existing", value_tier="vip", province="上海市"
    )
    client.force_login(rep)
    response = client.get(f"/customers/?lifecycle_stage=existing&value_tier=vip&province=上海市&tag={tag.pk}")
    assert _names(response) == ["目标"]
    assert response.context["filter"].active_count == 4


def test_stale_filter(client, rep):
    fresh = CustomerFactory(name="新鲜", owner=rep)
    stale = CustomerFactory(name="过期", owner=rep)
    Customer.objects.filter(pk=stale.pk).update(info_verified_at=timezone.now() - timedelta(days=200))
    client.force_login(rep)
    assert _names(client.get("/customers/?stale=on")) == ["过期"]
    assert fresh.name in _names(client.get("/customers/"))


def test_date_range_filters(client, rep):
    old = CustomerFactory(name="老的", owner=rep)
    Customer.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    CustomerFactory(name="新的", owner=rep)
    client.force_login(rep)
    since = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert _names(client.get(f"/customers/?created_after={since}")) == ["新的"]


def test_bad_filter_values_are_reported_not_crashing(client, rep):
    CustomerFactory(name="某人", owner=rep)
    client.force_login(rep)
    response = client.get(
        "/customers/?lifecycle_stage=nonsense&created_after=not-a-date&per_page=abc&sort=evil"
    )
    assert response.status_code == 200


def test_a_rep_cannot_filter_by_other_owners(client, rep, teammate):
    client.force_login(rep)
    form = client.get("/customers/").context["filter"].form
    assert "owner" not in form.fields


def test_search_box_on_the_list(client, rep):
    CustomerFactory(name="张三丰", owner=rep)
    CustomerFactory(name="李四", owner=rep)
    client.force_login(rep)
    assert _names(client.get("/customers/?q=zsf")) == ["张三丰"]


def test_empty_state_says_what_to_do(client, rep):
    client.force_login(rep)
    body = client.get("/customers/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No customers yet" in body
    body = client.get("/customers/?q=nothing", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No customer matches these filters" in body


def test_counts_are_capped(client, rep, settings):
    settings.LIST_COUNT_LIMIT = 5
    _make_many(rep, 7)
    client.force_login(rep)
    page = client.get("/customers/").context["page"]
    assert page.count == 5 and page.count_capped


# --- saved views ---------------------------------------------------------------------


def test_saving_and_deleting_a_view(client, rep, teammate):
    client.force_login(rep)
    response = client.post("/customers/views/", {"name": "我的VIP", "query": "value_tier=vip"})
    assert response.status_code == 302 and response["Location"].endswith("?value_tier=vip")
    view = SavedView.objects.get(user=rep)
    assert view.name == "我的VIP"
    # Saving under the same name replaces the filters.
    client.post("/customers/views/", {"name": "我的VIP", "query": "value_tier=active"})
    assert SavedView.objects.get(user=rep).query == "value_tier=active"
    # Another user cannot delete it.
    client.force_login(teammate)
    assert client.post(f"/customers/views/{view.pk}/delete/").status_code == 404
    client.force_login(rep)
    client.post(f"/customers/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_a_view_needs_a_name(client, rep):
    client.force_login(rep)
    client.post("/customers/views/", {"name": "", "query": "value_tier=vip"})
    assert not SavedView.objects.exists()


# --- bulk actions --------------------------------------------------------------------


def test_bulk_action_asks_for_confirmation_then_changes(client, rep):
    a, b = CustomerFactory(name="甲", owner=rep), CustomerFactory(name="乙", owner=rep)
    client.force_login(rep)
    data = {"action": "set_stage", "stage": "existing", "ids": f"{a.pk},{b.pk}", "query": ""}
    response = client.post("/customers/bulk/", data)
    assert response.status_code == 200 and response.context["count"] == 2
    a.refresh_from_db()
    assert a.lifecycle_stage == "prospect"  # nothing changed before confirming
    response = client.post("/customers/bulk/", {**data, "confirmed": "on"})
    assert response.status_code == 302
    assert set(Customer.objects.values_list("lifecycle_stage", flat=True)) == {"existing"}
    # Every changed customer has a history entry.
    assert a.history.count() == 2


def test_bulk_tagging(client, rep):
    tag = TagFactory(name="团购")
    a, b = CustomerFactory(name="甲", owner=rep), CustomerFactory(name="乙", owner=rep, tags=[tag])
    client.force_login(rep)
    client.post(
        "/customers/bulk/", {"action": "add_tag", "tag": tag.pk, "ids": f"{a.pk},{b.pk}", "confirmed": "on"}
    )
    assert a.tags.filter(pk=tag.pk).exists() and b.tags.count() == 1
    client.post(
        "/customers/bulk/", {"action": "remove_tag", "tag": tag.pk, "ids": f"{a.pk}", "confirmed": "on"}
    )
    assert not a.tags.exists() and b.tags.exists()


def test_bulk_select_all_matching_applies_the_filters(client, manager, rep, teammate):
    CustomerFactory(name="甲", owner=rep, value_tier="vip")
    CustomerFactory(name="乙", owner=teammate, value_tier="vip")
    CustomerFactory(name="丙", owner=rep, value_tier="dormant")
    client.force_login(manager)
    client.post(
        "/customers/bulk/",
        {
            "action": "assign_owner",
            "owner": teammate.pk,
            "select_all": "on",
            "query": "value_tier=vip",
            "confirmed": "on",
        },
    )
    assert set(Customer.objects.filter(owner=teammate).values_list("name", flat=True)) == {"甲", "乙"}
    assert AuditLog.objects.filter(action="owner_change").exists()


def test_bulk_actions_never_touch_invisible_customers(client, rep, other_rep):
    theirs = CustomerFactory(name="别人的", owner=other_rep)
    mine = CustomerFactory(name="我的", owner=rep)
    client.force_login(rep)
    client.post("/customers/bulk/", {"action": "delete", "ids": f"{theirs.pk},{mine.pk}", "confirmed": "on"})
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.deleted_at is None and mine.deleted_at is not None


def test_a_rep_may_not_bulk_assign_owners(client, rep, teammate):
    mine = CustomerFactory(name="我的", owner=rep)
    client.force_login(rep)
    response = client.post(
        "/customers/bulk/",
        {"action": "assign_owner", "owner": teammate.pk, "ids": f"{mine.pk}", "confirmed": "on"},
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.owner == rep


def test_customer_service_may_not_run_bulk_actions(client, service, rep):
    mine = CustomerFactory(name="我的", owner=rep)
    client.force_login(service)
    response = client.post(
        "/customers/bulk/",
        {"action": "set_stage", "stage": "churned", "ids": f"{mine.pk}", "confirmed": "on"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "data",
    [
        {"action": "set_stage", "ids": "1"},  # no stage
        {"action": "set_stage", "stage": "existing"},  # nothing selected
        {"action": "explode", "ids": "1"},
        {"action": "set_stage", "stage": "existing", "ids": "1,abc"},
    ],
)
def test_bad_bulk_requests_change_nothing(client, rep, data):
    CustomerFactory(name="甲", owner=rep)
    client.force_login(rep)
    response = client.post("/customers/bulk/", {**data, "confirmed": "on"})
    assert response.status_code == 302
    assert Customer.objects.get().lifecycle_stage == "prospect"


# --- the search form ----------------------------------------------------------------------


def test_searching_a_phone_number_keeps_it_out_of_the_url(client, rep):
    customer = CustomerFactory(name="张三丰", owner=rep, mobile="13800138000", email="zsf@example.com")
    client.force_login(rep)
    for typed in ("138 0013 8000", "ZSF@example.com"):
        response = client.post(
            "/customers/search/", {"q": typed, "value_tier": ["vip", "active"], "province": ""}
        )
        location = response["Location"]
        assert response.status_code == 302 and "qk=" in location
        assert "13800138000" not in location and "138+0013" not in location and "zsf" not in location.lower()
        assert "value_tier=vip&value_tier=active" in location and "province" not in location
    customer.value_tier = "vip"
    customer.save()
    page = client.get(location).context["page"]
    assert page.object_list == [customer]


def test_searching_a_name_passes_through(client, rep):
    client.force_login(rep)
    response = client.post("/customers/search/", {"q": "张三", "qk": "p:old", "sort": "name"})
    assert response["Location"] == "/customers/?q=%E5%BC%A0%E4%B8%89&sort=name"


def test_keeping_the_private_key_when_other_filters_change(client, rep):
    client.force_login(rep)
    response = client.post("/customers/search/", {"q": "", "qk": "p:abc", "value_tier": "vip"})
    assert "qk=p%3Aabc" in response["Location"] and "value_tier=vip" in response["Location"]


def test_a_forged_private_key_finds_nothing(client, rep):
    CustomerFactory(name="张三丰", owner=rep, mobile="13800138000")
    client.force_login(rep)
    assert client.get("/customers/?qk=p:deadbeef").context["page"].object_list == []
    assert client.get("/customers/?qk=nonsense").context["page"].object_list == []


def test_the_search_endpoint_needs_post(client, rep):
    client.force_login(rep)
    assert client.get("/customers/search/?q=x").status_code == 405
