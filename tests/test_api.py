"""The REST API's behaviour: tokens, masking and its audit, writes through the services,
validation like the forms', pagination and filters like the lists', query counts, throttling."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from core.api_auth import api_token_create, api_token_revoke, hash_token
from core.models import ApiToken, AuditLog
from customers.models import Customer
from tests.api_helpers import ApiClient, build_world

# --- tokens --------------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash_and_its_creation_is_audited(rep):
    token, raw = api_token_create(user=rep, name="ERP")
    assert raw.startswith("crm_") and len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hash_token(raw) and raw not in (stored.key_hash, stored.prefix)
    assert stored.prefix == raw[:12]
    assert AuditLog.objects.filter(action=AuditLog.Action.API_TOKEN_CREATE, object_id=str(token.pk)).exists()


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_a_token_authenticates_and_its_last_use_is_recorded(rep, keyword):
    token, raw = api_token_create(user=rep, name="ERP")
    response = ApiClient().client.get("/api/v1/customers/", HTTP_AUTHORIZATION=f"{keyword} {raw}")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_expired_revoked_and_unknown_tokens_and_inactive_users_are_refused(rep, teammate):
    client = ApiClient().client
    expired, expired_raw = api_token_create(
        user=rep, name="old", expires_at=timezone.now() - timedelta(minutes=1)
    )
    revoked, revoked_raw = api_token_create(user=rep, name="gone")
    api_token_revoke(token=revoked, actor=rep)
    _, inactive_raw = api_token_create(user=teammate, name="left")
    teammate.is_active = False
    teammate.save()
    for raw in (expired_raw, revoked_raw, inactive_raw, "crm_not-a-token"):
        response = client.get(
            "/api/v1/customers/", HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid, expired or revoked token."}
    assert (
        AuditLog.objects.filter(action=AuditLog.Action.API_TOKEN_REVOKE, object_id=str(revoked.pk)).count()
        == 1
    )
    # Revoking twice records once.
    api_token_revoke(token=revoked, actor=rep)
    assert AuditLog.objects.filter(action=AuditLog.Action.API_TOKEN_REVOKE).count() == 1


def test_the_account_page_makes_a_token_shown_once_and_revokes_it(client, rep, other_rep):
    client.force_login(rep)
    response = client.post("/accounts/api-tokens/", {"name": "财务系统", "expires_in_days": "30"})
    assert response.status_code == 200
    raw = response.context["new_token"]
    token = ApiToken.objects.get(user=rep)
    assert token.key_hash == hash_token(raw) and token.expires_at > timezone.now() + timedelta(days=29)
    # Shown once: the page does not show it again.
    assert raw not in client.get("/accounts/api-tokens/").content.decode()
    # Someone else cannot revoke it.
    client.force_login(other_rep)
    assert client.post(f"/accounts/api-tokens/{token.pk}/revoke/").status_code == 404
    client.force_login(rep)
    client.post(f"/accounts/api-tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_bad_token_form_input_is_refused_with_a_translated_message(client, rep):
    rep.language = "zh-hans"
    rep.save()
    client.force_login(rep)
    response = client.post("/accounts/api-tokens/", {"name": "  ", "expires_in_days": "0"})
    assert response.status_code == 200 and response.context["new_token"] is None
    assert not ApiToken.objects.exists()


# --- masking and its audit ---------------------------------------------------------------------


def test_personal_data_is_in_clear_for_view_sensitive_and_each_response_is_audited(rep):
    w = build_world(rep)
    response = ApiClient(rep).get(f"/api/v1/customers/{w.customer.pk}/")
    assert response.json()["mobile"] == "13812345678"
    entry = AuditLog.objects.get(action=AuditLog.Action.API_READ)
    assert entry.actor == rep and entry.object_id == str(w.customer.pk)
    assert entry.details["ids"] == [w.customer.pk] and "mobile" in entry.details["fields"]
    # Contacts too.
    ApiClient(rep).get("/api/v1/contacts/")
    assert AuditLog.objects.filter(
        action=AuditLog.Action.API_READ, details__object_type="customers.contact"
    ).exists()


def test_personal_data_is_masked_without_view_sensitive(rep):
    from django.contrib.auth.models import Permission

    w = build_world(rep)
    rep.user_permissions.remove(*Permission.objects.filter(codename="view_sensitive"))
    for group in rep.groups.all():
        group.permissions.remove(*Permission.objects.filter(codename="view_sensitive"))
    rep = type(rep).objects.get(pk=rep.pk)
    assert not rep.has_perm("customers.view_sensitive")
    data = ApiClient(rep).get(f"/api/v1/customers/{w.customer.pk}/").json()
    assert data["mobile"] == "138****5678" and data["email"] != "zhang@example.com"
    contact = ApiClient(rep).get(f"/api/v1/contacts/{w.contact.pk}/").json()
    assert contact["phone"] == "139****1111"
    assert not AuditLog.objects.filter(action=AuditLog.Action.API_READ).exists()


# --- writes go through the services ------------------------------------------------------------


def test_creating_and_updating_a_customer_goes_through_the_services(rep):
    client = ApiClient(rep)
    response = client.post(
        "/api/v1/customers/", {"name": "  李  四 ", "mobile": "138 0013 8000", "kind": "individual"}
    )
    assert response.status_code == 201, response.content
    customer = Customer.objects.get(pk=response.json()["id"])
    # Normalised like the form does; owned by the rep (reps do not choose owners).
    assert customer.name == "李 四" and customer.mobile == "13800138000" and customer.owner == rep
    assert customer.history.filter(history_type="+").count() == 1
    response = client.patch(f"/api/v1/customers/{customer.pk}/", {"lifecycle_stage": "existing"})
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.lifecycle_stage == "existing" and customer.lifecycle_stage_manual
    assert customer.history.count() == 2 and customer.history.first().history_user == rep
    # Other fields kept (PATCH merges over the stored values).
    assert customer.mobile == "13800138000"


def test_a_rep_cannot_give_a_customer_to_someone_else(rep, teammate):
    response = ApiClient(rep).post("/api/v1/customers/", {"name": "王五", "owner": teammate.pk})
    assert response.status_code == 201
    assert Customer.objects.get(pk=response.json()["id"]).owner == rep


def test_a_manager_changes_the_owner_and_it_is_audited(rep, teammate, manager):
    w = build_world(rep)
    response = ApiClient(manager).patch(f"/api/v1/customers/{w.customer.pk}/", {"owner": teammate.pk})
    assert response.status_code == 200, response.content
    assert AuditLog.objects.filter(action=AuditLog.Action.OWNER_CHANGE, object_id=str(w.customer.pk)).exists()


@pytest.mark.parametrize(
    ("language", "message"),
    # A blank name: the form's own message, exactly as the page shows it.
    [("en", "This field is required."), ("zh-hans", None)],
)
def test_invalid_input_answers_400_with_the_forms_message_and_changes_nothing(rep, language, message):
    response = ApiClient(rep, language=language).post(
        "/api/v1/customers/", {"name": "   ", "birthday": "2999-01-01"}
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"name", "birthday"}
    if message:
        assert errors["name"] == [message]
        assert errors["birthday"] == ["The birthday cannot be in the future."]
    else:
        # Django's own catalogue translates this one (the project's strings need the merged
        # catalogue, compiled by `make test`).
        assert response["Content-Language"] == "zh-hans"
        assert "必填" in errors["name"][0]
    assert not Customer.objects.exists()


def test_a_duplicate_phone_is_refused_like_on_the_form(rep):
    w = build_world(rep)
    response = ApiClient(rep).post("/api/v1/customers/", {"name": "另一个", "mobile": w.customer.mobile})
    assert response.status_code == 400
    assert "already on record" in response.json()["non_field_errors"][0]


def test_an_order_is_recorded_with_lines_and_the_customer_statistics_follow(rep):
    w = build_world(rep)
    response = ApiClient(rep).post(
        "/api/v1/orders/",
        {
            "customer": w.customer.pk,
            "status": "paid",
            "lines": [{"product": w.product.pk, "quantity": "3", "unit_price": "10.00", "discount": "10"}],
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["total"] == "27.00" and data["number"].startswith("SO") and len(data["lines"]) == 1
    w.customer.refresh_from_db()
    assert w.customer.order_count == 2  # the world's pending order and this one


def test_an_order_without_lines_or_with_a_bad_line_is_refused(rep):
    w = build_world(rep)
    client = ApiClient(rep)
    assert client.post("/api/v1/orders/", {"customer": w.customer.pk, "lines": []}).json() == {
        "lines": ["An order needs at least one line."]
    }
    response = client.post(
        "/api/v1/orders/", {"customer": w.customer.pk, "lines": [{"product": 999999, "quantity": "1"}]}
    )
    assert response.status_code == 400 and "product" in response.json()["lines"][0]


def test_an_order_status_moves_only_along_the_workflow(rep):
    w = build_world(rep)
    client = ApiClient(rep)
    response = client.post(f"/api/v1/orders/{w.order.pk}/status/", {"status": "completed"})
    assert response.status_code == 400
    assert response.json() == {"status": ["This order cannot move to that status."]}
    assert client.post(f"/api/v1/orders/{w.order.pk}/status/", {"status": "paid"}).json()["status"] == "paid"


def test_moving_an_opportunity_to_won_records_the_stage_history(rep):
    w = build_world(rep)
    response = ApiClient(rep).patch(
        f"/api/v1/opportunities/{w.opportunity.pk}/", {"stage": w.stages["Won"].pk}
    )
    assert response.status_code == 200, response.content
    assert response.json()["stage_kind"] == "won"
    assert w.opportunity.stage_changes.count() == 2


def test_logging_an_interaction_moves_last_contacted(rep):
    w = build_world(rep)
    response = ApiClient(rep).post(
        "/api/v1/interactions/", {"customer": w.customer.pk, "summary": "上门拜访", "channel": "visit"}
    )
    assert response.status_code == 201, response.content
    w.customer.refresh_from_db()
    assert w.customer.last_contacted_at is not None


# --- lists: pagination, filters, queries -------------------------------------------------------


def test_pagination_walks_every_customer_once_with_a_bounded_page_size(rep, settings):
    from customers.tests.factories import CustomerFactory

    settings.API_MAX_PAGE_SIZE = 4
    for i in range(7):
        CustomerFactory(owner=rep, name=f"客户{i}")
    client = ApiClient(rep)
    seen, url = [], "/api/v1/customers/?page_size=50"
    while url:
        data = client.get(url).json()
        assert len(data["results"]) <= 4 and data["count"] == 7
        seen += [c["id"] for c in data["results"]]
        url = data["next"]
    assert sorted(seen) == sorted(Customer.objects.values_list("pk", flat=True))
    assert client.get("/api/v1/customers/?page_size=abc").status_code == 400
    assert client.get("/api/v1/customers/?sort=nope").status_code == 400


def test_filters_give_the_web_lists_counts(client, rep):
    from customers.tests.factories import CustomerFactory

    CustomerFactory(owner=rep, name="甲", lifecycle_stage="new", province="上海")
    CustomerFactory(owner=rep, name="乙", lifecycle_stage="new", province="北京")
    CustomerFactory(owner=rep, name="丙", lifecycle_stage="existing", province="上海")
    client.force_login(rep)
    api = ApiClient(rep)
    for query in ("lifecycle_stage=new", "province=上海", "lifecycle_stage=new&province=上海", "q=甲"):
        web = client.get(f"/customers/?{query}", HTTP_ACCEPT_LANGUAGE="en").context["page"].count
        assert api.get(f"/api/v1/customers/?{query}").json()["count"] == web, query
    # An invalid filter value is an error, not a silently ignored filter.
    response = api.get("/api/v1/customers/?lifecycle_stage=nonsense")
    assert response.status_code == 400 and "lifecycle_stage" in response.json()


@pytest.mark.parametrize(
    ("endpoint", "max_queries"),
    [
        # token + user (1), last-used update (0-1), perms (2), managed teams (1), filter choices,
        # capped count, the page, prefetches (tags / lines), the read audit entry.
        ("customers", 12),
        ("contacts", 10),
        ("interactions", 10),
        ("tasks", 10),
        ("orders", 11),
        ("opportunities", 11),
    ],
)
def test_list_queries_do_not_grow_with_the_page(rep, endpoint, max_queries, django_assert_max_num_queries):
    from customers.tests.factories import CustomerFactory, make_contact
    from interactions.tests.factories import make_interaction, make_task
    from sales.tests.factories import make_opportunity, make_order

    build_world(rep)
    for i in range(12):
        customer = CustomerFactory(owner=rep, name=f"批量{i}")
        make_contact(customer)
        make_interaction(customer, rep)
        make_task(rep, customer)
        make_order(customer, rep)
        make_opportunity(customer, rep)
    client = ApiClient(rep)
    client.get(f"/api/v1/{endpoint}/")  # warm the token's last-used time
    with django_assert_max_num_queries(max_queries):
        response = client.get(f"/api/v1/{endpoint}/?page_size=50")
    assert response.status_code == 200 and len(response.json()["results"]) >= 13


# --- throttling --------------------------------------------------------------------------------


def test_requests_beyond_the_rate_are_throttled(rep, settings, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    key = f"throttle_user_{rep.pk}"  # DRF's cache key for this user's request history
    cache.delete(key)
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"})
    client = ApiClient(rep)
    codes = [client.get("/api/v1/customers/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "Retry-After" in client.get("/api/v1/customers/")
    cache.delete(key)


@pytest.mark.parametrize(
    ("web", "api", "queries"),
    [
        ("/sales/orders/", "/api/v1/orders/", ["status=paid", "status=pending", "q=SO", "total_min=150"]),
        ("/sales/opportunities/", "/api/v1/opportunities/", ["q=年度", "sort=-amount"]),
        ("/interactions/log/", "/api/v1/interactions/", ["channel=visit", "kind=contact"]),
    ],
)
def test_other_lists_filter_like_their_pages(client, rep, web, api, queries):
    from customers.tests.factories import CustomerFactory
    from interactions.tests.factories import make_interaction
    from sales.tests.factories import make_opportunity, make_order, make_product

    build_world(rep)
    customer = CustomerFactory(owner=rep, name="赵六")
    make_order(customer, rep, [(make_product(), 2)])
    make_interaction(customer, rep, channel="visit")
    make_opportunity(customer, rep, title="其他项目")
    client.force_login(rep)
    for query in queries:
        expected = client.get(f"{web}?{query}", HTTP_ACCEPT_LANGUAGE="en").context["page"].count
        assert ApiClient(rep).get(f"{api}?{query}").json()["count"] == expected, query


def test_a_task_is_completed_and_reopened_through_the_services(rep, service):
    w = build_world(rep)
    client = ApiClient(rep)
    assert client.post(f"/api/v1/tasks/{w.task.pk}/complete/").json()["status"] == "done"
    response = client.post(f"/api/v1/tasks/{w.task.pk}/cancel/")
    assert response.status_code == 400 and response.json() == {
        "non_field_errors": ["This task is already closed."]
    }
    assert client.post(f"/api/v1/tasks/{w.task.pk}/reopen/").json()["status"] == "open"
    # Customer service sees the task but may not act on it (as on the page).
    assert ApiClient(service).post(f"/api/v1/tasks/{w.task.pk}/complete/").status_code == 403


def test_a_services_field_error_is_a_400_under_its_field(rep):
    # Found by schemathesis: the task service refuses a reminder after the due time with a
    # ValidationError({field: message}), which the error handler turned into a 500.
    api = ApiClient(rep)
    response = api.post(
        "/api/v1/tasks/",
        {"title": "回访", "due_at": "2026-06-03T10:00:00+08:00", "remind_at": "2026-06-04T10:00:00+08:00"},
    )
    assert response.status_code == 400, response.content
    assert "remind_at" in response.json()
