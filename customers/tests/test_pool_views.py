"""The customer pool pages: the list (masked, bounded queries, filters), claim, release and
assign through the client, for each persona."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, CustomerPool, CustomerPoolTeam, PoolEvent
from customers.tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client):
    """Messages are matched in English (users without a saved language follow the browser);
    test_messages_follow_the_users_language checks zh-hans."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


MOBILE = "13812345678"
EMAIL = "zhang.sanfeng@example.com"


@pytest.fixture
def team_pool(team):
    pool = CustomerPool.objects.create(name="华东公海")
    CustomerPoolTeam.objects.create(pool=pool, team=team)
    return pool


@pytest.fixture
def pooled(team, team_pool):
    return CustomerFactory(owner=None, team=team, name="张三丰", mobile=MOBILE, email=EMAIL, city="杭州")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the list ------------------------------------------------------------------------------


def test_the_pool_list_masks_phone_and_email_even_for_users_who_may_reveal(client, rep, pooled):
    assert rep.has_perm("customers.view_sensitive")
    client.force_login(rep)
    response = client.get("/customers/pool/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "张三丰" in html
    assert MOBILE not in html and EMAIL not in html
    assert "zhang.sanfeng" not in html and "12345678" not in html
    assert "138****5678" in html
    assert "data-reveal-url" not in html


def test_the_pool_list_query_count_is_bounded_and_independent_of_page_size(client, rep, team, team_pool):
    tags = [TagFactory(name="VIP客户"), TagFactory(name="华东")]
    for i in range(60):
        CustomerFactory(owner=None, team=team, name=f"公海{i:02d}", mobile=f"139000000{i:02d}", tags=tags)
    client.force_login(rep)
    counts = {}
    for per_page in (25, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/customers/pool/?per_page={per_page}")
        assert len(response.context["page"].object_list) == per_page
        counts[per_page] = len(ctx.captured_queries)
    # session, user, user and group permissions (2), managed teams, the user's teams' pools,
    # the pools, count, the page (team and pool joined), tags of the page (one prefetch),
    # customers held, claims today, tasks due and unread notifications (navigation badges),
    # tag choices of the filter; saving the session (idle timeout): an UPDATE in a savepoint (3).
    assert counts[25] == counts[50]
    assert counts[50] == 19, counts  # (incl. the custom field definitions)


def test_a_rep_sees_only_the_pools_they_work_with(client, rep, other_rep, pooled, other_team):
    elsewhere = CustomerFactory(owner=None, team=other_team, name="华北客户")
    client.force_login(other_rep)
    html = client.get("/customers/pool/").content.decode()
    assert "华北客户" in html and "张三丰" not in html
    client.force_login(rep)
    html = client.get("/customers/pool/").content.decode()
    assert "张三丰" in html and elsewhere.name not in html


def test_owned_and_deleted_customers_are_not_in_the_pool(client, rep, team, team_pool, pooled):
    CustomerFactory(owner=rep, name="我的客户")
    client.force_login(rep)
    names = [c.name for c in client.get("/customers/pool/").context["page"].object_list]
    assert names == ["张三丰"]


def test_the_pool_has_the_ledgers_search_and_filters_but_not_the_owner_filters(client, manager, team, pooled):
    CustomerFactory(owner=None, team=team, name="李四", city="南京")
    client.force_login(manager)
    response = client.get("/customers/pool/?city=杭州")
    assert [c.name for c in response.context["page"].object_list] == ["张三丰"]
    assert "owner" not in response.context["filter"].form.fields
    assert "no_owner" not in response.context["filter"].form.fields
    response = client.get("/customers/pool/?q=李四")
    assert [c.name for c in response.context["page"].object_list] == ["李四"]


def test_the_search_box_of_the_pool_comes_back_to_the_pool_with_phone_numbers_hidden(client, rep, pooled):
    client.force_login(rep)
    response = client.post("/customers/search/", {"q": MOBILE, "target": "pool"})
    assert response.status_code == 302
    assert response["Location"].startswith("/customers/pool/?")
    assert MOBILE not in response["Location"]
    found = client.get(response["Location"])
    assert [c.name for c in found.context["page"].object_list] == ["张三丰"]


def test_the_claim_button_is_only_for_those_who_may_claim(client, rep, service, pooled):
    client.force_login(rep)
    assert 'data-testid="claim"' in client.get("/customers/pool/").content.decode()
    client.force_login(service)
    html = client.get("/customers/pool/").content.decode()
    assert "张三丰" in html and 'data-testid="claim"' not in html


# --- claim ---------------------------------------------------------------------------------


def test_a_rep_claims_a_pool_customer(client, rep, pooled):
    client.force_login(rep)
    response = client.post(f"/customers/pool/{pooled.pk}/claim/")
    assert response.status_code == 302 and response["Location"] == f"/customers/{pooled.pk}/"
    pooled.refresh_from_db()
    assert pooled.owner == rep


def test_messages_follow_the_users_language(client, rep, teammate, pooled):
    Customer.objects.filter(pk=pooled.pk).update(owner=teammate)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    client.force_login(rep)
    response = client.post(f"/customers/pool/{pooled.pk}/claim/")
    assert any("该客户已有负责人" in m for m in _messages(response))


def test_claiming_a_customer_that_has_an_owner_answers_an_error_and_changes_nothing(
    client, rep, teammate, pooled
):
    Customer.objects.filter(pk=pooled.pk).update(owner=teammate)
    client.force_login(rep)
    response = client.post(f"/customers/pool/{pooled.pk}/claim/", {"next": "/customers/pool/?sort=name"})
    assert response.status_code == 302 and response["Location"] == "/customers/pool/?sort=name"
    assert any("already has an owner" in m for m in _messages(response))
    pooled.refresh_from_db()
    assert pooled.owner == teammate
    assert not PoolEvent.objects.exists()


def test_the_claim_never_redirects_off_site(client, rep, pooled):
    Customer.objects.filter(pk=pooled.pk).update(owner=rep)  # the claim fails and goes "back"
    client.force_login(rep)
    response = client.post(f"/customers/pool/{pooled.pk}/claim/", {"next": "https://evil.example/"})
    assert response["Location"] == "/customers/pool/"


@pytest.mark.parametrize(
    ("persona", "status"), [("other_rep", 404), ("other_manager", 404), ("service", 403), ("manager", 302)]
)
def test_claim_permissions(client, request, persona, status, pooled):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    response = client.post(f"/customers/pool/{pooled.pk}/claim/")
    assert response.status_code == status
    pooled.refresh_from_db()
    assert (pooled.owner == user) == (status == 302)


def test_anonymous_is_sent_to_login(client, pooled):
    for url in (
        "/customers/pool/",
        f"/customers/pool/{pooled.pk}/claim/",
        f"/customers/{pooled.pk}/release/",
        "/customers/pool/assign/",
    ):
        response = client.get(url) if url.endswith("/pool/") else client.post(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_claim_is_post_only(client, rep, pooled):
    client.force_login(rep)
    assert client.get(f"/customers/pool/{pooled.pk}/claim/").status_code == 405


# --- release -------------------------------------------------------------------------------


def test_the_owner_releases_with_a_reason(client, rep, team_pool):
    customer = CustomerFactory(owner=rep)
    client.force_login(rep)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-testid="release-customer"' in page
    response = client.post(f"/customers/{customer.pk}/release/", {"reason": "客户不再需要"})
    # The rep no longer sees the customer: back to the pool.
    assert response["Location"] == "/customers/pool/"
    customer.refresh_from_db()
    assert customer.owner is None and customer.pool == team_pool
    assert PoolEvent.objects.get().reason == "客户不再需要"


def test_releasing_without_a_reason_answers_an_error_and_changes_nothing(client, rep):
    customer = CustomerFactory(owner=rep)
    client.force_login(rep)
    response = client.post(f"/customers/{customer.pk}/release/", {"reason": "  "})
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert any("Give a reason" in m for m in _messages(response))
    customer.refresh_from_db()
    assert customer.owner == rep
    assert not PoolEvent.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [("teammate", 404), ("other_rep", 404), ("other_manager", 404), ("service", 403), ("manager", 302)],
)
def test_release_permissions(client, request, rep, persona, status):
    customer = CustomerFactory(owner=rep)
    client.force_login(request.getfixturevalue(persona))
    response = client.post(f"/customers/{customer.pk}/release/", {"reason": "调整"})
    assert response.status_code == status
    customer.refresh_from_db()
    assert (customer.owner is None) == (status == 302)


# --- assign --------------------------------------------------------------------------------


def test_a_manager_assigns_several_pool_customers_at_once(client, manager, teammate, team, pooled):
    other = CustomerFactory(owner=None, team=team, name="李四")
    client.force_login(manager)
    response = client.post(
        "/customers/pool/assign/",
        {"ids": [pooled.pk, other.pk], "owner": teammate.pk, "next": "/customers/pool/"},
    )
    assert response["Location"] == "/customers/pool/"
    assert any("2 customers assigned" in m for m in _messages(response))
    assert set(Customer.objects.filter(owner=teammate).values_list("name", flat=True)) == {"张三丰", "李四"}
    assert PoolEvent.objects.filter(kind="assign", actor=manager).count() == 2


def test_assigning_to_someone_outside_the_managers_teams_answers_an_error_and_changes_nothing(
    client, manager, other_rep, pooled
):
    client.force_login(manager)
    response = client.post("/customers/pool/assign/", {"ids": [pooled.pk], "owner": other_rep.pk})
    assert any("not in a team you manage" in m for m in _messages(response))
    pooled.refresh_from_db()
    assert pooled.owner is None
    assert not PoolEvent.objects.exists()


def test_assigning_without_a_selection_answers_an_error(client, manager, teammate, pooled):
    client.force_login(manager)
    response = client.post("/customers/pool/assign/", {"owner": teammate.pk})
    assert any("Select the customers" in m for m in _messages(response))
    assert not PoolEvent.objects.exists()


def test_another_teams_manager_cannot_assign_customers_of_a_pool_they_do_not_work_with(
    client, other_manager, other_rep, pooled
):
    client.force_login(other_manager)
    response = client.post("/customers/pool/assign/", {"ids": [pooled.pk], "owner": other_rep.pk})
    assert any("No customer was assigned" in m for m in _messages(response))
    pooled.refresh_from_db()
    assert pooled.owner is None


@pytest.mark.parametrize("persona", ["rep", "other_rep", "service"])
def test_only_managers_and_admins_assign(client, request, persona, teammate, pooled):
    client.force_login(request.getfixturevalue(persona))
    response = client.post("/customers/pool/assign/", {"ids": [pooled.pk], "owner": teammate.pk})
    assert response.status_code == 403
    pooled.refresh_from_db()
    assert pooled.owner is None


def test_an_admin_assigns_to_anyone(client, admin_user, other_rep, pooled):
    client.force_login(admin_user)
    client.post("/customers/pool/assign/", {"ids": [pooled.pk], "owner": other_rep.pk})
    pooled.refresh_from_db()
    assert pooled.owner == other_rep
