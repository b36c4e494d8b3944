"""Service tickets: SLA, assignment, the status workflow, comments, knowledge base."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Notification
from customers.tests.factories import CustomerFactory
from interactions.models import Article, Ticket, TicketStatusChange
from interactions.services import ticket_transition
from interactions.tests.factories import make_ticket

pytestmark = pytest.mark.django_db

S = Ticket.Status


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


@pytest.mark.parametrize(("priority", "hours"), [(4, 4), (3, 8), (2, 24), (1, 72)])
def test_sla_follows_priority(customer, service, priority, hours, settings):
    ticket = make_ticket(customer, service, priority=priority)
    assert ticket.sla_due_at - ticket.created_at == timedelta(hours=hours)
    assert ticket.status == S.NEW
    assert list(ticket.status_changes.values_list("to_status", flat=True)) == ["new"]


def test_changing_priority_moves_the_sla(client, customer, service):
    ticket = make_ticket(customer, service, priority=2)
    client.force_login(service)
    client.post(
        f"/interactions/tickets/{ticket.pk}/edit/",
        {"subject": ticket.subject, "category": "inquiry", "priority": 4, "description": ""},
    )
    ticket.refresh_from_db()
    assert ticket.sla_due_at - ticket.created_at == timedelta(hours=4)


def test_opening_a_ticket_from_the_customer_page(client, customer, rep):
    client.force_login(rep)
    response = client.post(
        f"/interactions/tickets/new/?customer={customer.pk}",
        {
            "customer": customer.pk,
            "subject": "无法登录",
            "category": "fault",
            "priority": 3,
            "description": "一直提示密码错误",
        },
    )
    ticket = Ticket.objects.get()
    assert response["Location"] == f"/interactions/tickets/{ticket.pk}/"
    assert (ticket.created_by, ticket.category, ticket.priority, ticket.status) == (rep, "fault", 3, "new")


def test_bad_ticket_input(client, customer, service):
    client.force_login(service)
    for data in ({"subject": " "}, {"subject": "x", "category": "weird"}, {"subject": "x", "priority": 7}):
        response = client.post(
            f"/interactions/tickets/new/?customer={customer.pk}",
            {"customer": customer.pk, "category": "inquiry", "priority": 2, **data},
        )
        assert response.status_code == 200 and response.context["form"].errors
    assert not Ticket.objects.exists()


def test_a_ticket_needs_a_visible_customer(client, customer, other_rep):
    client.force_login(other_rep)
    assert client.get(f"/interactions/tickets/new/?customer={customer.pk}").status_code == 404
    assert client.get("/interactions/tickets/new/").status_code == 302


def test_assigning_moves_new_to_assigned_and_notifies(
    client, customer, service, manager, django_capture_on_commit_callbacks
):
    ticket = make_ticket(customer, manager)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/interactions/tickets/{ticket.pk}/assign/", {"assignee": service.pk})
    ticket.refresh_from_db()
    assert ticket.assignee == service and ticket.status == S.ASSIGNED
    assert Notification.objects.filter(recipient=service, kind="ticket_assigned").count() == 1


ALLOWED = {
    (S.NEW, S.ASSIGNED),
    (S.NEW, S.IN_PROGRESS),
    (S.NEW, S.RESOLVED),
    (S.NEW, S.CLOSED),
    (S.ASSIGNED, S.IN_PROGRESS),
    (S.ASSIGNED, S.WAITING),
    (S.ASSIGNED, S.RESOLVED),
    (S.IN_PROGRESS, S.WAITING),
    (S.IN_PROGRESS, S.RESOLVED),
    (S.WAITING, S.IN_PROGRESS),
    (S.WAITING, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.IN_PROGRESS),
    (S.CLOSED, S.IN_PROGRESS),
}


@pytest.mark.parametrize("start", S.values)
@pytest.mark.parametrize("target", S.values)
def test_the_workflow_allows_exactly_its_transitions(customer, service, start, target):
    ticket = make_ticket(customer, service, assignee=service)
    Ticket.objects.filter(pk=ticket.pk).update(status=start, resolution="已处理")
    ticket.refresh_from_db()
    if (start, target) in ALLOWED:
        ticket_transition(ticket=ticket, to_status=target, user=service)
        ticket.refresh_from_db()
        assert ticket.status == target
    else:
        with pytest.raises(ValidationError):
            ticket_transition(ticket=ticket, to_status=target, user=service)
        ticket.refresh_from_db()
        assert ticket.status == start


def test_resolving_needs_a_resolution_then_closing_and_reopening(client, customer, service):
    ticket = make_ticket(customer, service, assignee=service)
    client.force_login(service)
    url = f"/interactions/tickets/{ticket.pk}/status/"
    client.post(url, {"to_status": "in_progress"})
    client.post(url, {"to_status": "resolved", "resolution": ""})
    ticket.refresh_from_db()
    assert ticket.status == "in_progress"
    client.post(url, {"to_status": "resolved", "resolution": "已补发", "satisfaction": "4"})
    ticket.refresh_from_db()
    assert (
        ticket.status == "resolved"
        and ticket.resolved_at
        and ticket.resolution == "已补发"
        and ticket.satisfaction == 4
    )
    client.post(url, {"to_status": "closed"})
    client.post(url, {"to_status": "in_progress", "note": "客户再次反馈"})
    ticket.refresh_from_db()
    assert ticket.status == "in_progress" and ticket.resolved_at is None and ticket.closed_at is None
    history = list(TicketStatusChange.objects.filter(ticket=ticket).values_list("from_status", "to_status"))
    assert history == [
        ("", "assigned"),
        ("assigned", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
        ("closed", "in_progress"),
    ]


def test_a_rep_may_comment_but_not_change_status(client, customer, rep, service):
    ticket = make_ticket(customer, service)
    client.force_login(rep)
    assert (
        client.post(f"/interactions/tickets/{ticket.pk}/status/", {"to_status": "closed"}).status_code == 403
    )
    assert client.post(f"/interactions/tickets/{ticket.pk}/assign/", {"assignee": rep.pk}).status_code == 403
    client.post(f"/interactions/tickets/{ticket.pk}/comment/", {"body": "客户很着急"})
    assert ticket.comments.get().author == rep


def test_internal_notes_are_marked_and_empty_comments_refused(client, customer, service):
    ticket = make_ticket(customer, service)
    client.force_login(service)
    client.post(f"/interactions/tickets/{ticket.pk}/comment/", {"body": "内部备注", "internal": "on"})
    client.post(f"/interactions/tickets/{ticket.pk}/comment/", {"body": "   "})
    assert list(ticket.comments.values_list("body", "internal")) == [("内部备注", True)]


def test_tickets_of_invisible_customers_are_404(client, customer, service, other_rep):
    ticket = make_ticket(customer, service)
    client.force_login(other_rep)
    assert client.get(f"/interactions/tickets/{ticket.pk}/").status_code == 404
    assert client.post(f"/interactions/tickets/{ticket.pk}/comment/", {"body": "x"}).status_code == 404


def test_list_filters_and_breaches(client, customer, service):
    late = make_ticket(customer, service, subject="逾期工单", priority=4)
    Ticket.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(hours=1))
    make_ticket(customer, service, subject="正常工单", category="fault")
    done = make_ticket(customer, service, subject="已解决", assignee=service)
    ticket_transition(ticket=done, to_status="resolved", user=service, resolution="ok")
    client.force_login(service)

    def subjects(query):
        return {t.subject for t in client.get(f"/interactions/tickets/?{query}").context["page"].object_list}

    assert subjects("breached=on") == {"逾期工单"}
    assert subjects("category=fault") == {"正常工单"}
    assert subjects("open_only=on") == {"逾期工单", "正常工单"}
    assert subjects("status=resolved") == {"已解决"}
    assert subjects(f"q={late.pk}") == {"逾期工单"}
    assert subjects("q=wxm") == {"逾期工单", "正常工单", "已解决"}  # customer by initials
    assert subjects("mine=on") == {"已解决"}
    response = client.get("/interactions/tickets/")
    assert response.context["breached_count"] == 1
    assert 'data-testid="sla-breached"' in response.content.decode()


def test_ticket_list_query_count_is_bounded(client, customer, service):
    client.force_login(service)
    make_ticket(customer, service)
    with CaptureQueriesContext(connection) as few:
        client.get("/interactions/tickets/")
    for i in range(30):
        make_ticket(CustomerFactory(name=f"客户{i}"), service, assignee=service)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/interactions/tickets/")
    assert len(response.context["page"].object_list) == 31
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_resolved_ticket_becomes_an_article_and_is_suggested(client, customer, service):
    ticket = make_ticket(
        customer, service, subject="发货延迟如何处理", description="客户催货", assignee=service
    )
    client.force_login(service)
    assert client.post(f"/interactions/tickets/{ticket.pk}/article/").status_code == 302
    assert not Article.objects.exists()  # not resolved yet
    ticket_transition(ticket=ticket, to_status="resolved", user=service, resolution="联系物流加急")
    response = client.post(f"/interactions/tickets/{ticket.pk}/article/")
    article = Article.objects.get()
    assert response["Location"] == f"/interactions/kb/{article.pk}/edit/"
    assert "联系物流加急" in article.body and article.source_ticket == ticket
    similar = make_ticket(customer, service, subject="发货延迟")
    assert article in client.get(f"/interactions/tickets/{similar.pk}/").context["articles"]
    assert [a.title for a in client.get("/interactions/kb/?q=物流").context["page"].object_list] == [
        "发货延迟如何处理"
    ]


def test_reps_read_but_do_not_write_the_knowledge_base(client, rep):
    client.force_login(rep)
    assert client.get("/interactions/kb/").status_code == 200
    assert client.get("/interactions/kb/new/").status_code == 403
