"""Follow-up work in a real Chromium: a rep logs a call with a follow-up task and ticks it off,
customer service runs a ticket from opening to resolution, and a task assigned by a manager
lights up the rep's bell and task badge."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CUSTOMER = "李四光"


def _log_in(page: Page, live_server, username: str, next_path: str) -> None:
    """Log in through the form (field ids, not labels: the page may be in any language)."""
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def _local_input(dt) -> str:
    """A value for a datetime-local input, in the site's time zone (Asia/Shanghai)."""
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def _status_label(status: str) -> str:
    """The status as the page shows it (the browser asks for Chinese; the users set no language)."""
    from interactions.models import Ticket

    with translation.override(settings.LANGUAGE_CODE):
        return str(Ticket.Status(status).label)


def test_a_rep_logs_a_call_with_a_follow_up_task_and_completes_it_in_my_tasks(
    page: Page, live_server, rep, tmp_path
):
    from customers.models import Customer
    from customers.tests.factories import CustomerFactory
    from interactions.models import Interaction, Task

    customer = CustomerFactory(name=CUSTOMER, owner=rep)
    assert customer.last_contacted_at is None
    detail_path = f"/customers/{customer.pk}/"
    _log_in(page, live_server, "rep", detail_path)

    # 1. Log a phone call with a follow-up task from the quick form on the customer page.
    summary = "电话回访：客户想要续约报价"
    task_title = "发送续约报价单"
    due = timezone.localtime() + timedelta(days=2)
    form = page.get_by_test_id("log-form")
    expect(form).to_be_visible()
    form.locator("#id_channel").select_option(Interaction.Channel.PHONE)
    form.locator("#id_summary").fill(summary)
    follow_up = form.locator("#id_follow_up")
    follow_up.check()
    expect(follow_up).to_be_checked()
    expect(form.locator("#follow-up-fields")).to_be_visible()
    form.locator("#id_follow_up_title").fill(task_title)
    form.locator("#id_follow_up_due").fill(_local_input(due))
    form.get_by_test_id("log-interaction").click()

    # Back on the customer page: the call and the task are on the timeline.
    expect(page).to_have_url(re.compile(rf"{re.escape(detail_path)}(#timeline)?$"))
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(summary)
    expect(timeline).to_contain_text(task_title)
    expect(page.get_by_test_id("customer-open-tasks")).to_contain_text(task_title)
    page.screenshot(path=str(tmp_path / "customer-after-log.png"), full_page=True)

    interaction = Interaction.objects.get(customer=customer)
    assert interaction.summary == summary
    assert interaction.channel == Interaction.Channel.PHONE
    assert interaction.created_by == rep
    task = Task.objects.get(customer=customer)
    assert task.title == task_title
    assert task.assignee == rep
    assert task.status == Task.Status.OPEN
    assert timezone.localtime(task.due_at).strftime("%Y-%m-%dT%H:%M") == _local_input(due)
    customer = Customer.objects.get(pk=customer.pk)
    assert customer.last_contacted_at is not None
    assert customer.last_contacted_at == interaction.occurred_at

    # 2. My tasks: the task is upcoming; tick it off.
    page.goto(f"{live_server.url}/interactions/tasks/")
    row = page.get_by_test_id("section-upcoming").get_by_test_id("task-row").filter(has_text=task_title)
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-task", str(task.pk))
    for section in ("overdue", "today"):
        expect(page.get_by_test_id(f"section-{section}").get_by_test_id("task-row")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "my-tasks-before.png"), full_page=True)
    row.get_by_test_id("complete-task").click()

    expect(page).to_have_url(f"{live_server.url}/interactions/tasks/")
    for section in ("overdue", "today", "upcoming"):
        expect(page.get_by_test_id(f"section-{section}")).to_be_visible()
        expect(page.get_by_test_id(f"section-{section}").get_by_test_id("task-row")).to_have_count(0)
    expect(page.get_by_test_id("task-row")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "my-tasks-after.png"), full_page=True)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.completed_at is not None


def test_service_opens_assigns_and_resolves_a_ticket(page: Page, live_server, rep, service, tmp_path):
    from customers.tests.factories import CustomerFactory
    from interactions.models import Ticket, TicketComment

    customer = CustomerFactory(name=CUSTOMER, owner=rep)
    detail_path = f"/customers/{customer.pk}/"
    _log_in(page, live_server, "service", detail_path)

    # 1. Open a high-priority complaint ticket from the customer page.
    subject = "快递三天未到，客户投诉"
    page.get_by_test_id("new-ticket").click()
    expect(page).to_have_url(f"{live_server.url}/interactions/tickets/new/?customer={customer.pk}")
    page.locator("#id_subject").fill(subject)
    page.locator("#id_category").select_option(Ticket.Category.COMPLAINT)
    page.locator("#id_priority").select_option("3")
    page.get_by_test_id("save-ticket").click()

    expect(page).to_have_url(re.compile(r"/interactions/tickets/\d+/$"))
    ticket = Ticket.objects.get(customer=customer)
    assert page.url == f"{live_server.url}/interactions/tickets/{ticket.pk}/"
    assert ticket.subject == subject
    assert ticket.category == Ticket.Category.COMPLAINT
    assert ticket.priority == 3
    assert ticket.status == Ticket.Status.NEW
    assert ticket.assignee is None
    assert ticket.created_by == service
    expect(page.locator("h1")).to_contain_text(subject)
    status = page.get_by_test_id("ticket-status")
    expect(status).to_have_text(_status_label(Ticket.Status.NEW))
    new_label = status.inner_text()

    # 2. Assign it to oneself: the assignee shows, the status moves on.
    assign_form = page.locator("form:has([data-testid=assign-ticket])")
    assign_form.locator("#id_assignee").select_option(str(service.pk))
    assign_form.get_by_test_id("assign-ticket").click()
    expect(page.get_by_test_id("ticket-assignee")).to_have_text(str(service))
    expect(status).not_to_have_text(new_label)
    expect(status).to_have_text(_status_label(Ticket.Status.ASSIGNED))
    ticket.refresh_from_db()
    assert ticket.assignee == service
    assert ticket.status == Ticket.Status.ASSIGNED

    # 3. In progress.
    page.get_by_test_id("to-status").select_option(Ticket.Status.IN_PROGRESS)
    page.get_by_test_id("change-status").click()
    expect(status).to_have_text(_status_label(Ticket.Status.IN_PROGRESS))
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.IN_PROGRESS

    # 4. Resolved, with the resolution.
    resolution = "已联系快递公司加急派送，并补偿优惠券一张。"
    page.get_by_test_id("to-status").select_option(Ticket.Status.RESOLVED)
    page.locator("#id_resolution").fill(resolution)
    page.get_by_test_id("change-status").click()
    expect(status).to_have_text(_status_label(Ticket.Status.RESOLVED))
    expect(page.get_by_text(resolution).first).to_be_visible()
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.resolution == resolution
    assert ticket.resolved_at is not None

    # The status history lists every step, oldest first.
    steps = list(ticket.status_changes.values_list("from_status", "to_status", "changed_by"))
    assert steps == [
        ("", Ticket.Status.NEW, service.pk),
        (Ticket.Status.NEW, Ticket.Status.ASSIGNED, service.pk),
        (Ticket.Status.ASSIGNED, Ticket.Status.IN_PROGRESS, service.pk),
        (Ticket.Status.IN_PROGRESS, Ticket.Status.RESOLVED, service.pk),
    ]
    history = page.get_by_test_id("status-history").locator("> li")
    expect(history).to_have_count(len(steps))
    for item, (old, new, _user) in zip(history.all(), steps, strict=True):
        expected = _status_label(new) if not old else f"{_status_label(old)} → {_status_label(new)}"
        expect(item).to_contain_text(expected)
        expect(item).to_contain_text(str(service))

    # 5. A comment.
    comment = "已电话告知客户处理结果，客户表示满意。"
    page.locator("#id_body").fill(comment)
    page.get_by_test_id("add-comment").click()
    expect(page).to_have_url(re.compile(r"#comments$"))
    comments = page.get_by_test_id("comments")
    expect(comments).to_contain_text(comment)
    expect(comments.locator("> li").filter(has_text=comment)).to_contain_text(str(service))
    saved = TicketComment.objects.get(ticket=ticket)
    assert saved.body == comment
    assert saved.author == service
    page.screenshot(path=str(tmp_path / "ticket-detail.png"), full_page=True)


def test_the_bell_and_task_badge(page: Page, live_server, manager, rep, tmp_path):
    from core.models import Notification
    from interactions.models import Task

    # 1. The manager assigns an overdue task to the rep.
    _log_in(page, live_server, "manager", "/interactions/tasks/new/")
    title = "补录上周拜访记录"
    page.locator("#id_title").fill(title)
    page.locator("#id_due_at").fill(_local_input(timezone.now() - timedelta(hours=1)))
    page.locator("#id_assignee").select_option(str(rep.pk))
    page.get_by_test_id("save-task").click()
    expect(page).to_have_url(f"{live_server.url}/interactions/tasks/")
    task = Task.objects.get(title=title)
    assert task.assignee == rep
    assert task.created_by == manager
    assert task.is_overdue
    # The manager assigned it to someone else: no badge for the manager.
    expect(page.get_by_test_id("task-badge")).to_have_count(0)
    expect(page.get_by_test_id("notification-count")).to_have_count(0)
    notification = Notification.objects.get(recipient=rep)
    assert notification.url == f"/interactions/tasks/{task.pk}/"

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # 2. The rep sees one unread notification and one due task.
    _log_in(page, live_server, "rep", "/")
    expect(page.get_by_test_id("notification-count")).to_have_text("1")
    expect(page.get_by_test_id("task-badge")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "rep-home-badges.png"), full_page=True)

    page.get_by_test_id("notification-bell").click()
    expect(page).to_have_url(f"{live_server.url}/notifications/")
    item = page.get_by_test_id("notification-list").get_by_test_id("notification")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(title)
    expect(item).to_have_attribute("data-unread", "true")
    page.screenshot(path=str(tmp_path / "notifications.png"), full_page=True)

    item.click()
    expect(page).to_have_url(f"{live_server.url}/interactions/tasks/{task.pk}/")
    expect(page.locator("#id_title")).to_have_value(title)
    expect(page.get_by_test_id("notification-count")).to_have_count(0)
    expect(page.get_by_test_id("task-badge")).to_have_text("1")
    notification.refresh_from_db()
    assert notification.is_read
    page.screenshot(path=str(tmp_path / "task-from-notification.png"), full_page=True)
