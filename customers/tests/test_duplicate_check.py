"""The duplicate check (查重) that does not leak, and creation blocked on a phone or email
already on record (admins may override with a reason, recorded)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditLog
from customers.models import Customer
from customers.tests.factories import CustomerFactory

SECRET = {
    "name": "机密客户甲",
    "company": "保密科技有限公司",
    "mobile": "13912345678",
    "email": "secret.buyer@example.com",
}


@pytest.fixture
def hidden(other_rep):
    """Another team's customer: the rep may not know any of its details."""
    return CustomerFactory(owner=other_rep, **SECRET)


def _results(response) -> str:
    html = response.content.decode()
    start = html.find('data-testid="check-results"')
    assert start != -1, "no results section"
    return html[start:]


@pytest.mark.parametrize(
    "query",
    [
        {"phone": "139-1234-5678"},
        {"phone": "+86 139 1234 5678"},
        {"email": "Secret.Buyer@Example.com"},
        {"company": "保密科技有限公司"},
    ],
)
def test_a_match_owned_by_someone_else_shows_only_owner_and_date(client, rep, hidden, other_rep, query):
    client.force_login(rep)
    response = client.get(reverse("customers:check"), query)
    assert response.status_code == 200
    results = _results(response)
    assert results.count('data-testid="check-match"') == 1
    assert str(other_rep) in results
    assert timezone.localtime(hidden.created_at).strftime("%Y-%m-%d") in results  # the site's day
    for value in (*SECRET.values(), "5678", "secret", f"/customers/{hidden.pk}/"):
        if value in query.values():
            continue
        assert value not in results, value
    # Nor anywhere else on the page (the typed value aside).
    html = response.content.decode()
    assert SECRET["name"] not in html and SECRET["mobile"] not in html


def test_a_pool_customer_is_said_to_be_in_the_pool(client, rep):
    CustomerFactory(owner=None, name="公海客户", mobile="13700000001")
    client.force_login(rep)
    results = _results(client.get(reverse("customers:check"), {"phone": "13700000001"}))
    assert "公海客户" not in results
    assert "in the customer pool" in results or "公海" in results


def test_a_match_the_user_may_see_is_linked(client, rep):
    mine = CustomerFactory(owner=rep, name="我的客户", mobile="13700000002")
    client.force_login(rep)
    results = _results(client.get(reverse("customers:check"), {"phone": "13700000002"}))
    assert "我的客户" in results and f"/customers/{mine.pk}/" in results


def test_no_match_and_bad_input(client, rep, hidden):
    client.force_login(rep)
    response = client.get(reverse("customers:check"), {"phone": "13700009999"})
    assert 'data-testid="check-none"' in response.content.decode()
    for query in ({"phone": "abc"}, {"email": "not-an-email"}, {"phone": "", "email": "", "company": " "}):
        response = client.get(reverse("customers:check"), query)
        assert response.status_code == 200
        assert 'data-testid="check-results"' not in response.content.decode()


def test_partial_values_do_not_match(client, rep, hidden):
    """Exact matches only: the check cannot be used to browse other people's customers."""
    client.force_login(rep)
    response = client.get(reverse("customers:check"), {"company": "保密科技"})
    assert 'data-testid="check-none"' in response.content.decode()


def test_anonymous_and_people_without_access(client, db):
    from core.tests.factories import UserFactory

    assert client.get(reverse("customers:check")).status_code == 302
    client.force_login(UserFactory(username="nobody"))
    assert client.get(reverse("customers:check")).status_code == 403


def _create(client, **data):
    payload = {
        "kind": "individual",
        "name": "新客户",
        "lifecycle_stage": "prospect",
        "value_tier": "potential",
        **data,
    }
    return client.post(reverse("customers:create"), payload)


def test_creating_a_customer_with_a_phone_on_record_is_blocked(client, rep, hidden):
    client.force_login(rep)
    before = Customer.objects.count()
    response = _create(client, mobile="13912345678", confirm_duplicate="on", duplicate_reason="x")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="duplicate-blocked"' in html
    assert SECRET["name"] not in html and SECRET["company"] not in html
    assert Customer.objects.count() == before


def test_creating_a_customer_with_an_email_on_record_is_blocked_for_a_manager_too(client, manager, hidden):
    client.force_login(manager)
    before = Customer.objects.count()
    response = _create(client, email="SECRET.BUYER@example.com", confirm_duplicate="on")
    assert response.status_code == 200
    assert Customer.objects.count() == before


def test_an_admin_overrides_with_a_reason_and_it_is_recorded(client, admin_user, hidden):
    client.force_login(admin_user)
    before = Customer.objects.count()
    response = _create(client, mobile="13912345678", confirm_duplicate="on")
    assert response.status_code == 200 and Customer.objects.count() == before  # no reason
    response = _create(
        client, mobile="13912345678", confirm_duplicate="on", duplicate_reason="总机号码，多家公司共用"
    )
    assert response.status_code == 302
    created = Customer.objects.get(name="新客户")
    entry = AuditLog.objects.get(action=AuditLog.Action.DUPLICATE_OVERRIDE)
    assert entry.actor == admin_user and entry.object_id == str(created.pk)
    assert entry.details["reason"] == "总机号码，多家公司共用" and entry.details["matches"] == [hidden.pk]


def test_same_name_and_company_stays_a_warning_that_can_be_confirmed(client, rep, other_rep):
    CustomerFactory(owner=other_rep, name="同名客户", company="同名公司")
    client.force_login(rep)
    response = _create(client, name="同名客户", company="同名公司")
    assert response.status_code == 200 and Customer.objects.filter(name="同名客户").count() == 1
    response = _create(client, name="同名客户", company="同名公司", confirm_duplicate="on")
    assert response.status_code == 302 and Customer.objects.filter(name="同名客户").count() == 2
