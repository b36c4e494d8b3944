"""Property-based tests (hypothesis) of the main forms, through the test client: whatever is
typed into them, the answer is a page or a redirect, never a server error, and a submission
that is refused (the form shown again) writes nothing.

Each example starts from a valid submission and, field by field, keeps the valid value,
replaces it with junk (control characters, huge and negative numbers, impossible dates,
markup, full-width digits ...) or leaves the field out. So examples land on both sides of
validation: accepted ones redirect (and may write), refused ones must leave every table as
it was. The test client re-raises any exception a view lets escape, so a 500 fails the test
with its traceback.
"""

from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Contact, Customer
from customers.tests.factories import CustomerFactory, make_contact
from interactions.models import Interaction, Task, Ticket
from interactions.tests.factories import make_interaction, make_task, make_ticket
from sales.models import Opportunity, Order, OrderLine, Product
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

pytestmark = pytest.mark.django_db

# The function-scoped fixtures (users, a customer) are made once per test and shared by its
# examples on purpose: each example checks its own before/after.
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MISSING = object()

junk = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "0",
            "-1",
            "-0.01",
            "1e309",
            "1E+400",
            "NaN",
            "Infinity",
            "99999999999999999999999999",
            "0.0000000001",
            "2024-02-30",
            "2024-13-01",
            "0001-01-01",
            "9999-12-31",
            "9999-12-31T23:59",
            "0001-01-01T00:00",
            "2024-01-05T25:61",
            "13800138000",
            "+8613800138000",
            "１３８００１３８０００",
            "a@b",
            "<script>alert(1)</script>",
            "{{ 7|add:7 }}",
            "%(name)s",
            "' OR 1=1 --",
            "张" * 300,
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)


def mutations(valid: dict) -> st.SearchStrategy[dict]:
    """Dicts with the keys of `valid`, each kept, replaced by junk, or left out."""
    per_field = {
        name: st.one_of(st.just(value), junk, st.just(MISSING))
        if not name.startswith("lines-")
        else st.just(value)
        for name, value in valid.items()
    }
    return st.fixed_dictionaries(per_field).map(lambda d: {k: v for k, v in d.items() if v is not MISSING})


def with_line_junk(valid: dict) -> st.SearchStrategy[dict]:
    """Like `mutations`, the order line fields included (the formset's management form kept)."""
    management = {k: v for k, v in valid.items() if k.startswith("lines-") and k[6:].isupper()}
    others = {k: v for k, v in valid.items() if k not in management}
    per_field = {name: st.one_of(st.just(value), junk, st.just(MISSING)) for name, value in others.items()}
    return st.fixed_dictionaries(per_field).map(
        lambda d: {**management, **{k: v for k, v in d.items() if v is not MISSING}}
    )


def fingerprint(*rows) -> dict:
    """Row counts of every table the forms write, and the rows being edited."""
    state = {
        model.__name__: model._base_manager.count()
        for model in (Customer, Contact, Interaction, Task, Ticket, Order, OrderLine, Opportunity)
    }
    state["customer_history"] = Customer.history.count()
    for row in rows:
        state[f"{row._meta.label}:{row.pk}"] = type(row)._base_manager.filter(pk=row.pk).values().first()
    return state


def submit(client, url: str, data: dict, *rows):
    before = fingerprint(*rows)
    response = client.post(url, data)
    # 403 / 404: junk in a field naming a record ("customer=:" / "customer=0").
    assert response.status_code in (200, 302, 403, 404), (url, data, response.status_code)
    if response.status_code != 302:
        # Refused: the form is shown again (or the record is not found) and nothing was written.
        assert fingerprint(*rows) == before, (url, data)
    else:
        assert not response["Location"].startswith("/accounts/login/")
    return response


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="张三丰", owner=rep, mobile="13812345678")


@pytest.fixture
def signed_in(client, manager):
    client.force_login(manager)
    return client


# --- customers and contacts ---------------------------------------------------------------

CUSTOMER = {
    "kind": "individual",
    "name": "赵六",
    "gender": "male",
    "birthday": "1990-05-01",
    "company": "杭州云帆科技",
    "title": "经理",
    "industry": "零售",
    "mobile": "13900001111",
    "other_phone": "",
    "email": "zhaoliu@example.com",
    "wechat": "zl_wx",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "street": "文三路 1 号",
    "region": "east",
    "source": "referral",
    "lifecycle_stage": "prospect",
    "value_tier": "potential",
    "abc_class": "",
    "preferences": "电话联系",
    "notes": "",
    "marketing_consent": "on",
    "marketing_consent_channel": "paper",
    "care_opt_out": "",
    "confirm_duplicate": "on",
}


@SETTINGS
@given(data=mutations(CUSTOMER))
def test_customer_create_never_fails_and_a_refusal_writes_nothing(signed_in, manager, data):
    submit(signed_in, "/customers/new/", {**data, "owner": data.get("owner", manager.pk)})


@SETTINGS
@given(data=mutations(CUSTOMER))
def test_customer_edit_never_fails_and_a_refusal_changes_nothing(signed_in, rep, customer, data):
    # The owner stays the rep: an accepted edit that gave the customer away would send every
    # later example to a 404.
    submit(signed_in, f"/customers/{customer.pk}/edit/", {**data, "owner": rep.pk}, customer)


CONTACT = {
    "name": "李秘书",
    "title": "秘书",
    "phone": "13900002222",
    "email": "li@example.com",
    "wechat": "",
    "is_primary": "on",
}


@SETTINGS
@given(data=mutations(CONTACT))
def test_contact_create_and_edit_never_fail(signed_in, customer, data):
    submit(signed_in, f"/customers/{customer.pk}/contacts/new/", data)
    contact = Contact.objects.filter(customer=customer).first() or make_contact(customer)
    submit(signed_in, f"/customers/{customer.pk}/contacts/{contact.pk}/edit/", data, contact)


# --- interactions, tasks, tickets ----------------------------------------------------------

INTERACTION = {
    "kind": "call",
    "channel": "phone",
    "direction": "outbound",
    "occurred_at": "2026-01-05T10:00",
    "summary": "电话回访",
    "details": "客户满意",
    "outcome": "positive",
    "satisfaction": "5",
    "next_step": "下周报价",
    "follow_up": "on",
    "follow_up_title": "发报价",
    "follow_up_due": "2099-01-05T10:00",
}


@SETTINGS
@given(data=mutations(INTERACTION))
def test_interaction_log_and_edit_never_fail(signed_in, manager, customer, data):
    submit(signed_in, f"/interactions/log/new/{customer.pk}/", data)
    interaction = Interaction.objects.filter(customer=customer).first() or make_interaction(customer, manager)
    submit(signed_in, f"/interactions/log/{interaction.pk}/edit/", data, interaction)


def _task(manager, customer) -> dict:
    return {
        "title": "回访",
        "customer": customer.pk,
        "due_at": "2099-01-05T10:00",
        "remind_at": "",
        "priority": "normal",
        "assignee": manager.pk,
        "notes": "",
    }


@SETTINGS
@given(data=st.data())
def test_task_create_and_edit_never_fail(signed_in, manager, customer, data):
    values = data.draw(mutations(_task(manager, customer)))
    submit(signed_in, "/interactions/tasks/new/", values)
    task = Task.objects.filter(customer=customer).first() or make_task(manager, customer)
    submit(signed_in, f"/interactions/tasks/{task.pk}/", values, task)


def _ticket(manager, customer) -> dict:
    return {
        "customer": customer.pk,
        "subject": "打印机卡纸",
        "category": "fault",
        "priority": "normal",
        "assignee": manager.pk,
        "description": "第三次了",
    }


@SETTINGS
@given(data=st.data())
def test_ticket_create_and_edit_never_fail(signed_in, manager, customer, data):
    values = data.draw(mutations(_ticket(manager, customer)))
    submit(signed_in, f"/interactions/tickets/new/?customer={customer.pk}", values)
    ticket = Ticket.objects.filter(customer=customer).first() or make_ticket(customer, manager)
    submit(signed_in, f"/interactions/tickets/{ticket.pk}/edit/", values, ticket)


# --- orders and opportunities --------------------------------------------------------------


@pytest.fixture
def product(db):
    return Product.objects.create(name="扫码枪", sku="SKU-1", unit_price=Decimal("199.00"))


def _order(manager, customer, product) -> dict:
    return {
        "customer": customer.pk,
        "ordered_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "status": "paid",
        "channel": "sales_rep",
        "owner": manager.pk,
        "notes": "",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-product": product.pk,
        "lines-0-quantity": "2",
        "lines-0-unit_price": "",
        "lines-0-discount": "10",
        "lines-1-product": product.pk,
        "lines-1-quantity": "1.5",
        "lines-1-unit_price": "1800",
        "lines-1-discount": "",
    }


@SETTINGS
@given(data=st.data())
def test_order_create_never_fails_and_a_refusal_writes_nothing(signed_in, manager, customer, product, data):
    values = data.draw(with_line_junk(_order(manager, customer, product)))
    submit(signed_in, f"/sales/orders/new/?customer={customer.pk}", values)


@SETTINGS
@given(data=st.data())
def test_order_edit_never_fails_and_a_refusal_changes_nothing(signed_in, manager, customer, product, data):
    order = make_order(customer, manager, status=Order.Status.PENDING)
    values = data.draw(with_line_junk(_order(manager, customer, product)))
    submit(signed_in, f"/sales/orders/{order.pk}/edit/", values, order)


def _opportunity(manager, stage) -> dict:
    return {
        "title": "办公家具采购",
        "needs": "二十张办公桌",
        "amount": "120000.00",
        "currency": "CNY",
        "stage": stage.pk,
        "probability": "",
        "expected_close_date": "2026-09-30",
        "owner": manager.pk,
        "source": "",
        "next_step": "发报价单",
        "lost_reason": "",
    }


@SETTINGS
@given(data=st.data(), stage_name=st.sampled_from(["Qualification", "Won", "Lost"]))
def test_opportunity_create_and_edit_never_fail(signed_in, manager, customer, data, stage_name):
    stage = ensure_default_pipeline()[stage_name]
    values = data.draw(mutations(_opportunity(manager, stage)))
    submit(signed_in, f"/sales/opportunities/new/?customer={customer.pk}", values)
    opportunity = Opportunity.objects.filter(customer=customer, order__isnull=True).first()
    opportunity = opportunity or make_opportunity(customer, manager)
    submit(signed_in, f"/sales/opportunities/{opportunity.pk}/edit/", values, opportunity)


# --- login and the second step ------------------------------------------------------------


@SETTINGS
@given(
    username=st.one_of(junk, st.just("rep")), password=st.one_of(junk, st.just(django_settings.DEMO_PASSWORD))
)
def test_the_login_form_never_fails(client, rep, username, password):
    client.logout()
    before = fingerprint()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    # 429: the lockout, once a username has failed five times from this address.
    assert response.status_code in (200, 302, 429)
    if response.status_code != 302:
        assert "_auth_user_id" not in client.session
        assert fingerprint() == before


@SETTINGS
@given(code=junk)
def test_the_two_factor_code_form_never_fails(client, manager, code):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from core import twofactor

    TOTPDevice.objects.get_or_create(user=manager, name="default", defaults={"confirmed": True})
    client.force_login(manager)
    assert client.session.get(twofactor.SESSION_PENDING)
    response = client.post("/accounts/two-factor/verify/", {"code": code})
    assert response.status_code == 200
    assert client.get("/").status_code == 302  # still at the second step
