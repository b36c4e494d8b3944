"""Follow-up tasks: My tasks, complete / postpone / cancel, team view and reassignment,
automation-rule idempotency, the navigation badge."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Notification
from customers.tests.factories import CustomerFactory
from interactions.models import Task
from interactions.services import task_create_for_rule
from interactions.tests.factories import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


def test_my_tasks_groups_overdue_today_and_upcoming(client, rep, customer):
    now = timezone.now()
    make_task(rep, customer, title="过期", due_at=now - timedelta(hours=3))
    make_task(rep, customer, title="以后", due_at=now + timedelta(days=3))
    today_end = timezone.localtime().replace(hour=23, minute=59, second=0)
    if today_end > now + timedelta(minutes=2):
        make_task(rep, customer, title="今天", due_at=today_end)
    make_task(rep, customer, title="已完成", due_at=now - timedelta(days=1), status="done")
    client.force_login(rep)
    sections = client.get("/interactions/tasks/").context["sections"]
    assert [t.title for t in sections["overdue"]] == ["过期"]
    assert [t.title for t in sections["upcoming"]] == ["以后"]
    assert all(t.title == "今天" for t in sections["today"])


def test_complete_postpone_cancel_reopen_from_the_list(client, rep, customer):
    task = make_task(rep, customer, remind_at=timezone.now() + timedelta(hours=20))
    client.force_login(rep)
    due, remind = task.due_at, task.remind_at
    client.post(f"/interactions/tasks/{task.pk}/postpone/", {"by": "1d", "next": "/interactions/tasks/"})
    task.refresh_from_db()
    assert task.due_at == due + timedelta(days=1)
    assert task.remind_at == remind + timedelta(days=1)  # the reminder moves along
    response = client.post(f"/interactions/tasks/{task.pk}/complete/", {"next": "/interactions/tasks/"})
    assert response["Location"] == "/interactions/tasks/"
    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == rep and task.completed_at
    # A closed task cannot be completed or postponed again...
    client.post(f"/interactions/tasks/{task.pk}/postpone/", {"by": "1d"})
    task.refresh_from_db()
    assert task.due_at == due + timedelta(days=1)
    # ...but can be reopened, then cancelled.
    client.post(f"/interactions/tasks/{task.pk}/reopen/")
    client.post(f"/interactions/tasks/{task.pk}/cancel/")
    task.refresh_from_db()
    assert task.status == "cancelled"


def test_postpone_to_a_past_time_is_refused(client, rep):
    task = make_task(rep)
    client.force_login(rep)
    client.post(f"/interactions/tasks/{task.pk}/postpone/", {"until": "2020-01-01T10:00"})
    due = task.due_at
    task.refresh_from_db()
    assert task.due_at == due


def test_unknown_actions_and_gets_are_refused(client, rep):
    task = make_task(rep)
    client.force_login(rep)
    assert client.post(f"/interactions/tasks/{task.pk}/explode/").status_code == 403
    assert client.get(f"/interactions/tasks/{task.pk}/complete/").status_code == 405


def test_other_peoples_tasks(client, rep, teammate, other_rep, manager, customer):
    task = make_task(rep, customer)
    client.force_login(other_rep)
    assert client.get(f"/interactions/tasks/{task.pk}/").status_code == 404
    assert client.post(f"/interactions/tasks/{task.pk}/complete/").status_code == 404
    client.force_login(teammate)  # same team, not the manager: cannot see a rep's customer task
    assert client.post(f"/interactions/tasks/{task.pk}/complete/").status_code == 404
    client.force_login(manager)  # the team's manager may close it
    assert client.post(f"/interactions/tasks/{task.pk}/complete/").status_code == 302
    task.refresh_from_db()
    assert task.status == "done"


def test_creating_a_task_for_a_customer_and_bad_input(client, rep, customer):
    client.force_login(rep)
    url = f"/interactions/tasks/new/?customer={customer.pk}"
    due = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    late = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url, {"title": " ", "due_at": due, "priority": 2, "assignee": rep.pk, "customer": customer.pk}
    )
    assert "title" in response.context["form"].errors
    response = client.post(
        url,
        {
            "title": "回访",
            "due_at": due,
            "remind_at": late,
            "priority": 2,
            "assignee": rep.pk,
            "customer": customer.pk,
        },
    )
    assert response.status_code == 200 and not Task.objects.exists()  # reminder after due
    response = client.post(
        url, {"title": "回访", "due_at": due, "priority": 9, "assignee": rep.pk, "customer": customer.pk}
    )
    assert "priority" in response.context["form"].errors
    response = client.post(
        url, {"title": "回访", "due_at": due, "priority": 2, "assignee": rep.pk, "customer": customer.pk}
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.pk}/"
    assert Task.objects.get().customer == customer


def test_a_rep_can_only_assign_to_themselves(client, rep, teammate):
    client.force_login(rep)
    due = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/interactions/tasks/new/", {"title": "x", "due_at": due, "priority": 2, "assignee": teammate.pk}
    )
    assert "assignee" in response.context["form"].errors


def test_a_task_for_an_invisible_customer_is_404(client, other_rep, customer):
    client.force_login(other_rep)
    assert client.get(f"/interactions/tasks/new/?customer={customer.pk}").status_code == 404


def test_manager_sees_team_tasks_and_reassigns_with_notifications(
    client, manager, rep, teammate, other_rep, django_capture_on_commit_callbacks
):
    a = make_task(rep, title="甲")
    b = make_task(rep, title="乙")
    theirs = make_task(other_rep, title="别组")
    client.force_login(manager)
    response = client.get("/interactions/tasks/team/")
    titles = {t.title for tasks in response.context["sections"].values() for t in tasks}
    assert titles == {"甲", "乙"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/interactions/tasks/reassign/", {"ids": f"{a.pk},{b.pk},{theirs.pk}", "assignee": teammate.pk}
        )
    assert set(Task.objects.filter(assignee=teammate).values_list("title", flat=True)) == {"甲", "乙"}
    theirs.refresh_from_db()
    assert theirs.assignee == other_rep  # not visible to this manager
    assert Notification.objects.filter(recipient=teammate, kind="task_assigned").count() == 2


def test_reps_cannot_see_team_tasks_or_reassign(client, rep, teammate):
    task = make_task(rep)
    client.force_login(rep)
    assert client.get("/interactions/tasks/team/").status_code == 403
    assert (
        client.post(
            "/interactions/tasks/reassign/", {"ids": str(task.pk), "assignee": teammate.pk}
        ).status_code
        == 403
    )


def test_assigning_a_task_to_someone_else_notifies_them_once(
    manager, rep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(rep, created_by=manager)
    note = Notification.objects.get(recipient=rep)
    assert note.kind == "task_assigned" and task.title in note.title
    with django_capture_on_commit_callbacks(execute=True):
        make_task(rep)  # made by themselves: no notification
    assert Notification.objects.count() == 1


def test_my_tasks_query_count_is_bounded(client, rep, customer):
    client.force_login(rep)
    make_task(rep, customer)
    with CaptureQueriesContext(connection) as few:
        client.get("/interactions/tasks/")
    for i in range(25):
        make_task(
            rep, CustomerFactory(name=f"客户{i}", owner=rep), due_at=timezone.now() - timedelta(hours=i + 1)
        )
    with CaptureQueriesContext(connection) as many:
        client.get("/interactions/tasks/")
    assert len(many.captured_queries) == len(few.captured_queries)


def test_navigation_badge_counts_due_and_overdue_tasks(client, rep):
    make_task(rep, due_at=timezone.now() - timedelta(hours=1))
    make_task(rep, due_at=timezone.now() + timedelta(days=5))
    client.force_login(rep)
    body = client.get("/").content.decode()
    assert 'data-testid="task-badge">1<' in body


# --- automation rules (used by the sales issue) ---------------------------------------


def test_a_rule_never_creates_the_same_task_twice(rep, customer):
    kwargs = {
        "rule": "stage_entered",
        "rule_key": "stage-entered:opportunity:1:stage:2",
        "assignee": rep,
        "title": "准备报价",
        "due_at": timezone.now() + timedelta(days=2),
        "customer": customer,
    }
    first, created = task_create_for_rule(**kwargs)
    again, created_again = task_create_for_rule(**kwargs)
    assert created and not created_again and first == again
    assert first.origin == "automatic" and first.rule == "stage_entered"
    assert Task.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rule_run_by_two_workers_at_once_creates_one_task(rep):
    kwargs = {
        "rule": "r",
        "rule_key": "race:1",
        "assignee": rep,
        "title": "t",
        "due_at": timezone.now() + timedelta(days=1),
    }
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(task_create_for_rule(**kwargs)[1])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert Task.objects.filter(rule_key="race:1").count() == 1


def test_an_automatic_task_must_name_its_rule(rep):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Task.objects.create(title="x", due_at=timezone.now(), assignee=rep, origin="automatic", rule="")


def test_a_task_cannot_go_to_an_inactive_user(rep, teammate):
    teammate.is_active = False
    teammate.save()
    with pytest.raises(ValidationError):
        make_task(teammate, created_by=rep)


def test_my_workspace_shows_what_is_due_today_and_my_tickets(client, rep, service, customer):
    from interactions.tests.factories import make_ticket

    make_task(rep, customer, title="今天要做", due_at=timezone.now() - timedelta(minutes=5))
    make_task(rep, customer, title="下周再说", due_at=timezone.now() + timedelta(days=7))
    make_ticket(customer, service, subject="分给我的", assignee=rep)
    client.force_login(rep)
    body = client.get("/").content.decode()
    assert "今天要做" in body and "下周再说" not in body and "分给我的" in body
