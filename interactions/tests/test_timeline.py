"""The customer timeline: every kind in time order, filterable, bounded however long."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import Interaction
from interactions.tests.factories import make_interaction, make_task, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


def test_timeline_merges_kinds_in_time_order(client, customer, rep, service):
    now = timezone.now()
    make_interaction(customer, rep, summary="第一次电话", occurred_at=now - timedelta(days=3))
    make_ticket(customer, service, subject="投诉")
    make_task(rep, customer, title="回访", due_at=now + timedelta(days=1))
    client.force_login(rep)
    timeline = client.get(f"/customers/{customer.pk}/").context["timeline"]
    assert [e.kind for e in timeline] == ["task", "ticket", "customer", "interaction"]
    assert timeline == sorted(timeline, key=lambda e: e.at, reverse=True)


def test_timeline_filters_by_kind(client, customer, rep, service):
    make_interaction(customer, rep)
    make_ticket(customer, service)
    client.force_login(rep)
    timeline = client.get(f"/customers/{customer.pk}/?kind=ticket").context["timeline"]
    assert {e.kind for e in timeline} == {"ticket"}
    timeline = client.get(f"/customers/{customer.pk}/?kind=nonsense").context["timeline"]
    assert {e.kind for e in timeline} >= {"ticket", "interaction", "customer"}


def test_a_customer_page_with_hundreds_of_entries_runs_the_same_queries(client, customer, rep):
    client.force_login(rep)
    make_interaction(customer, rep)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/customers/{customer.pk}/")
    now = timezone.now()
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer=customer, summary=f"第{i}次", occurred_at=now - timedelta(hours=i), created_by=rep
            )
            for i in range(400)
        ]
    )
    for i in range(40):
        make_task(rep, customer, title=f"任务{i}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/customers/{customer.pk}/")
    assert len(response.context["timeline"]) == 30
    assert len(many.captured_queries) == len(few.captured_queries)
