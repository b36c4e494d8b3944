"""Interactions: the service keeps "last contacted" right; the quick form; the list."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory, make_contact
from interactions.models import Interaction, Task, Ticket
from interactions.tests.factories import make_interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


def test_logging_updates_last_contacted_forward_only(customer, rep):
    now = timezone.now()
    make_interaction(customer, rep, occurred_at=now - timedelta(days=2))
    customer.refresh_from_db()
    assert customer.last_contacted_at == now - timedelta(days=2)
    make_interaction(customer, rep, occurred_at=now - timedelta(days=10))  # logged late, older
    customer.refresh_from_db()
    assert customer.last_contacted_at == now - timedelta(days=2)


def test_an_interaction_cannot_be_in_the_future_or_name_another_customers_contact(customer, rep):
    other = CustomerFactory(name="别人", owner=rep)
    stranger = make_contact(other, name="外人")
    with pytest.raises(ValidationError):
        make_interaction(customer, rep, occurred_at=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError):
        make_interaction(customer, rep, contact=stranger)
    assert not Interaction.objects.exists()
    customer.refresh_from_db()
    assert customer.last_contacted_at is None


def test_quick_log_from_the_customer_page_with_a_follow_up_task(client, customer, rep):
    client.force_login(rep)
    page = client.get(f"/customers/{customer.pk}/")
    assert 'data-testid="log-form"' in page.content.decode()
    due = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/interactions/log/new/{customer.pk}/",
        {
            "kind": "contact",
            "channel": "phone",
            "direction": "out",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "summary": "  电话回访，  确认报价 ",
            "next_step": "发送合同",
            "follow_up": "on",
            "follow_up_title": "发送合同草稿",
            "follow_up_due": due,
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.pk}/#timeline"
    interaction = Interaction.objects.get()
    assert interaction.summary == "电话回访， 确认报价" and interaction.created_by == rep
    task = Task.objects.get()
    assert (task.title, task.assignee, task.customer, task.notes) == (
        "发送合同草稿",
        rep,
        customer,
        "发送合同",
    )
    customer.refresh_from_db()
    assert customer.last_contacted_at is not None
    timeline = client.get(f"/customers/{customer.pk}/").context["timeline"]
    assert {e.kind for e in timeline} >= {"interaction", "task"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", "  "),
        ("channel", "fax"),
        ("direction", "up"),
        ("satisfaction", "9"),
        ("occurred_at", "yesterday"),
    ],
)
def test_bad_input_changes_nothing(client, customer, rep, field, value):
    client.force_login(rep)
    data = {"kind": "contact", "channel": "phone", "direction": "out", "summary": "回访", field: value}
    response = client.post(f"/interactions/log/new/{customer.pk}/", data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Interaction.objects.exists()


def test_a_follow_up_without_title_or_in_the_past_is_refused(client, customer, rep):
    client.force_login(rep)
    data = {"kind": "contact", "channel": "phone", "direction": "out", "summary": "回访", "follow_up": "on"}
    response = client.post(
        f"/interactions/log/new/{customer.pk}/", {**data, "follow_up_due": "2020-01-01T10:00"}
    )
    errors = response.context["follow_up"].errors
    assert "follow_up_title" in errors and "follow_up_due" in errors
    assert not Interaction.objects.exists() and not Task.objects.exists()


def test_logging_for_an_invisible_customer_is_404(client, customer, other_rep):
    client.force_login(other_rep)
    response = client.post(f"/interactions/log/new/{customer.pk}/", {"summary": "x", "channel": "phone"})
    assert response.status_code == 404


def test_interaction_detail_and_edit_rights(client, customer, rep, teammate, manager, other_rep):
    interaction = make_interaction(customer, rep)
    client.force_login(other_rep)
    assert client.get(f"/interactions/log/{interaction.pk}/").status_code == 404
    client.force_login(manager)
    assert client.get(f"/interactions/log/{interaction.pk}/").status_code == 200
    client.force_login(rep)
    response = client.post(
        f"/interactions/log/{interaction.pk}/edit/",
        {
            "kind": "contact",
            "channel": "visit",
            "direction": "out",
            "summary": "上门拜访",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    interaction.refresh_from_db()
    assert interaction.channel == "visit"


def test_a_complaint_becomes_a_ticket_once(client, customer, rep, service):
    complaint = make_interaction(
        customer, rep, kind="complaint", summary="发货延迟投诉", details="晚了三天", satisfaction=1
    )
    client.force_login(service)
    response = client.post(f"/interactions/log/{complaint.pk}/ticket/")
    ticket = Ticket.objects.get()
    assert response["Location"] == f"/interactions/tickets/{ticket.pk}/"
    assert (ticket.subject, ticket.category, ticket.customer, ticket.satisfaction) == (
        "发货延迟投诉",
        "complaint",
        customer,
        1,
    )
    client.post(f"/interactions/log/{complaint.pk}/ticket/")
    assert Ticket.objects.count() == 1
    complaint.refresh_from_db()
    assert complaint.ticket == ticket


def test_an_ordinary_interaction_does_not_become_a_ticket(client, customer, rep, service):
    interaction = make_interaction(customer, rep)
    client.force_login(service)
    client.post(f"/interactions/log/{interaction.pk}/ticket/")
    assert not Ticket.objects.exists()


def test_list_filters_and_search(client, rep, customer):
    other = CustomerFactory(name="张三丰", owner=rep)
    make_interaction(customer, rep, channel="visit", summary="上门拜访演示")
    make_interaction(other, rep, channel="phone", summary="电话回访确认报价")
    client.force_login(rep)

    def summaries(query):
        return {i.summary for i in client.get(f"/interactions/log/?{query}").context["page"].object_list}

    assert summaries("channel=visit") == {"上门拜访演示"}
    assert summaries("q=zsf") == {"电话回访确认报价"}  # customer by pinyin initials
    assert summaries("q=确认报价") == {"电话回访确认报价"}  # words of the summary
    assert summaries(f"customer={other.pk}") == {"电话回访确认报价"}
    assert summaries(f"staff={rep.pk}") == {"上门拜访演示", "电话回访确认报价"}
    since = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert summaries(f"occurred_after={since}") == set()


def test_list_shows_only_visible_customers_interactions(client, rep, other_rep, customer):
    theirs = CustomerFactory(name="别组客户", owner=other_rep)
    make_interaction(customer, rep, summary="我的")
    make_interaction(theirs, other_rep, summary="别人的")
    client.force_login(rep)
    assert {i.summary for i in client.get("/interactions/log/").context["page"].object_list} == {"我的"}


def test_list_query_count_does_not_grow_with_rows(client, rep, customer):
    client.force_login(rep)
    make_interaction(customer, rep)
    with CaptureQueriesContext(connection) as few:
        client.get("/interactions/log/")
    for i in range(30):
        c = CustomerFactory(name=f"客户{i}", owner=rep)
        make_interaction(c, rep)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/interactions/log/")
    assert len(response.context["page"].object_list) == 31
    assert len(many.captured_queries) == len(few.captured_queries)


def test_customer_service_logs_but_cannot_edit_others_entries(client, customer, rep, service):
    interaction = make_interaction(customer, rep)
    client.force_login(service)
    assert (
        client.get(f"/interactions/log/{interaction.pk}/edit/").status_code == 200
    )  # may change interactions
    assert Customer.objects.visible_to(service).filter(pk=customer.pk).exists()


def test_a_rep_cannot_edit_a_teammates_interaction(client, customer, rep, manager, teammate):
    interaction = make_interaction(customer, manager)
    client.force_login(rep)
    assert client.get(f"/interactions/log/{interaction.pk}/edit/").status_code == 403


def test_merging_customers_moves_interactions_tasks_and_tickets(rep, manager, service):
    from customers.services import customer_merge
    from interactions.tests.factories import make_task, make_ticket

    keep = CustomerFactory(name="张伟", owner=rep)
    dupe = CustomerFactory(name="张伟（重复）", owner=rep)
    make_interaction(dupe, rep)
    make_task(rep, dupe)
    make_ticket(dupe, service)
    record = customer_merge(survivor=keep, merged=dupe, choices={}, user=manager)
    assert record.moved == {"interactions.interaction": 1, "interactions.task": 1, "interactions.ticket": 1}
    assert keep.interactions.count() == 1 and keep.tasks.count() == 1 and keep.tickets.count() == 1
