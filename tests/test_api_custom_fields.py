"""Admin-defined custom fields through the REST API: read as one `custom` object (sensitive
values masked unless the user may reveal personal data), written through the same forms as the
pages (each kind validated, errors under custom.<key>), partial updates keep the other values,
unknown keys refused, another team's record not reachable, and a list costs no query per row."""

import pytest
from django.contrib.auth.models import Permission

from core import custom_fields
from core.models import CustomField
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from sales.tests.factories import ensure_default_pipeline, make_opportunity
from tests.api_helpers import ApiClient


@pytest.fixture
def fields(db):
    return [
        CustomField.objects.create(target="customer", key="size", kind="number", label_en="Size"),
        CustomField.objects.create(target="customer", key="since", kind="date", label_en="Since"),
        CustomField.objects.create(
            target="customer",
            key="level",
            kind="choice",
            label_en="Level",
            choices="gold | Gold | 金牌\nsilver | Silver | 银牌",
        ),
        CustomField.objects.create(target="customer", key="pin", kind="text", sensitive=True, label_en="PIN"),
        CustomField.objects.create(target="opportunity", key="budget_ok", kind="yes_no", label_en="Budget"),
    ]


def _without_view_sensitive(user):
    for group in user.groups.all():
        group.permissions.remove(Permission.objects.get(codename="view_sensitive"))
    return type(user).objects.get(pk=user.pk)


def test_custom_values_are_written_and_read_through_the_form(fields, rep):
    rep = _without_view_sensitive(rep)
    api = ApiClient(rep)
    response = api.post(
        "/api/v1/customers/",
        {"name": "接口客户", "custom": {"size": 12, "since": "2025-03-01", "level": "gold", "pin": "8888"}},
    )
    assert response.status_code == 201, response.json()
    customer = Customer.objects.get(name="接口客户")
    assert custom_fields.custom_values_for(customer, rep)["size"] == 12
    assert response.json()["custom"]["pin"] != "8888"  # this user may not reveal personal data
    response = api.patch(f"/api/v1/customers/{customer.pk}/", {"custom": {"level": "silver"}})
    assert response.status_code == 200, response.json()
    got = response.json()["custom"]
    assert got["level"] == "silver" and got["size"] == 12 and got["since"] == "2025-03-01"


def test_bad_custom_values_are_refused_under_their_key_and_change_nothing(fields, rep):
    api = ApiClient(rep)
    customer = CustomerFactory(owner=rep)
    for custom, key in (
        ({"size": "many"}, "size"),
        ({"since": "2025-13-45"}, "since"),
        ({"level": "bronze"}, "level"),
    ):
        response = api.patch(f"/api/v1/customers/{customer.pk}/", {"custom": custom})
        assert response.status_code == 400, custom
        assert key in response.json()["custom"], response.json()
    response = api.patch(f"/api/v1/customers/{customer.pk}/", {"custom": {"nope": 1}})
    assert response.status_code == 400 and "nope" in response.json()["custom"][0]
    response = api.patch(f"/api/v1/customers/{customer.pk}/", {"custom": ["size", 1]})
    assert response.status_code == 400
    customer.refresh_from_db()
    assert not customer.custom


def test_sensitive_values_in_clear_only_for_who_may_reveal_them(fields, rep):
    customer = CustomerFactory(owner=rep)
    customer.custom = custom_fields.clean_custom_values("customer", {"pin": "8888"})
    customer.save()
    assert ApiClient(rep).get(f"/api/v1/customers/{customer.pk}/").json()["custom"]["pin"] == "8888"
    masked = ApiClient(_without_view_sensitive(rep)).get(f"/api/v1/customers/{customer.pk}/")
    assert masked.json()["custom"]["pin"] != "8888"


def test_another_teams_custom_values_are_out_of_reach(fields, rep, other_rep):
    customer = CustomerFactory(owner=other_rep)
    api = ApiClient(rep)
    assert api.get(f"/api/v1/customers/{customer.pk}/").status_code == 404
    assert api.patch(f"/api/v1/customers/{customer.pk}/", {"custom": {"size": 1}}).status_code == 404


def test_opportunities_carry_their_custom_fields(fields, rep):
    ensure_default_pipeline()
    opportunity = make_opportunity(CustomerFactory(owner=rep), rep)
    api = ApiClient(rep)
    response = api.patch(f"/api/v1/opportunities/{opportunity.pk}/", {"custom": {"budget_ok": True}})
    assert response.status_code == 200, response.json()
    assert api.get(f"/api/v1/opportunities/{opportunity.pk}/").json()["custom"]["budget_ok"] is True


def test_the_list_reads_the_definitions_once(fields, rep, django_assert_max_num_queries):
    api = ApiClient(rep)
    for n in range(3):
        CustomerFactory(owner=rep, name=f"甲{n}")
    api.get("/api/v1/customers/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as three:
        api.get("/api/v1/customers/")
    for n in range(5):
        CustomerFactory(owner=rep, name=f"乙{n}")
    with CaptureQueriesContext(connection) as eight:
        api.get("/api/v1/customers/")
    assert len(eight) == len(three)
