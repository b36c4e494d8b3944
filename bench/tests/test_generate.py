"""bench/generate.py on a tiny data set: what it writes is what the app would have written."""

import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum
from django.urls import reverse

from bench.generate import RefusedError, generate
from core.models import User
from customers.models import Contact, Customer, TierChange
from customers.search import _pinyin_forms, phone_bidx, search_customers
from interactions.models import Interaction, Task, Ticket
from sales.models import Opportunity, OpportunityStageChange, Order, OrderLine

pytestmark = pytest.mark.django_db

SIZES = {
    "customers": 300,
    "interactions": 1500,
    "orders": 400,
    "opportunities": 60,
    "tickets": 30,
    "tasks": 80,
}


@pytest.fixture
def generated():
    # In this process (workers=0): the test's transaction holds everything it writes.
    return generate(**SIZES, seed=7, workers=0, out=io.StringIO())


def test_every_table_gets_the_rows_asked_for(generated):
    assert Customer.objects.count() == 300
    assert Customer.history.count() == 300
    assert Interaction.objects.count() == 1500
    assert Order.objects.count() == 400
    assert Opportunity.objects.count() == 60
    assert Ticket.objects.count() == 30
    assert Task.objects.count() == 80
    assert OrderLine.objects.count() == generated.rows["sales_orderline"] >= 400
    assert OpportunityStageChange.objects.count() == generated.rows["sales_opportunitystagechange"] >= 60
    assert Contact.objects.count() == generated.rows["customers_contact"] > 0
    assert Customer.tags.through.objects.count() == generated.rows["customers_customer_tags"] > 0
    assert TierChange.objects.count() == generated.rows["customers_tierchange"] > 0
    # About 80% Chinese names.
    chinese = Customer.objects.filter(name__regex=r"^[\u4e00-\u9fff]").count()
    assert 200 <= chinese <= 285


def test_a_generated_customer_opens_with_its_phone_decrypted(generated, client):
    sample = generated.samples[0]
    stored = Customer.objects.get(pk=sample["id"])
    assert stored.mobile == sample["mobile"]
    assert stored.mobile_bidx == phone_bidx(sample["mobile"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile FROM customers_customer WHERE id = %s", [sample["id"]])
        (raw,) = cursor.fetchone()
    assert raw.startswith("gAAAAA") and sample["mobile"] not in raw
    client.force_login(User.objects.get(username="bench_admin"))
    response = client.get(reverse("customers:detail", args=[sample["id"]]))
    assert response.status_code == 200
    assert sample["name"] in response.content.decode()


def test_search_finds_a_generated_customer_by_two_character_name_and_by_initials(generated):
    customer = Customer.objects.filter(name__regex=r"^[\u4e00-\u9fff]{2}$").first()
    assert customer is not None
    found = search_customers(Customer.objects.all(), customer.name)
    assert customer in found
    initials = _pinyin_forms(customer.name)[1]
    assert customer in search_customers(Customer.objects.all(), initials)
    longer = Customer.objects.filter(name__regex=r"^[\u4e00-\u9fff]{3}$").first()
    assert longer in search_customers(Customer.objects.all(), _pinyin_forms(longer.name)[0])


def test_purchase_statistics_are_the_sum_of_the_customers_orders(generated):
    counted = ~Q(orders__status__in=Order.EXCLUDED_FROM_STATS)
    customers = Customer.objects.annotate(
        n=Count("orders", filter=counted),
        spend=Sum("orders__total", filter=counted),
        first=Min("orders__ordered_at", filter=counted),
        last=Max("orders__ordered_at", filter=counted),
    )
    buyers = 0
    for customer in customers:
        assert customer.order_count == customer.n
        assert customer.total_spend == (customer.spend or Decimal("0"))
        assert customer.first_purchase_at == customer.first
        assert customer.last_purchase_at == customer.last
        buyers += customer.order_count > 0
    assert buyers > 50
    # Lifecycle and scores follow the purchases.
    assert not Customer.objects.filter(order_count=0).exclude(lifecycle_stage="prospect").exists()
    assert not Customer.objects.exclude(rfm_score="").exclude(rfm_score__regex=r"^[1-5]{3}$").exists()


def test_the_app_keeps_working_after_generation(generated):
    from customers.services import customer_create
    from sales.models import Product
    from sales.services import LineData, order_create

    rep = User.objects.get(username="bench_rep11")
    highest = Customer.objects.aggregate(Max("pk"))["pk__max"]
    customer = customer_create(user=rep, data={"name": "新客户", "owner": rep, "mobile": "13900001111"})
    assert customer.pk > highest
    order = order_create(
        user=rep,
        data={"customer": customer},
        lines=[LineData(product=Product.objects.first(), quantity=Decimal("1"))],
    )
    assert re.fullmatch(r"SO\d{6}\d{7}", order.number)
    assert Interaction.objects.create(customer=customer, summary="电话回访", created_by=rep).pk


def test_it_refuses_a_database_that_has_customers(generated):
    with pytest.raises(RefusedError, match="--append"):
        generate(customers=10, interactions=10, orders=10, workers=0, out=io.StringIO())
