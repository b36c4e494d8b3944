import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Notification
from core.notifications import notifications_mark_read, notify, unread_count

pytestmark = pytest.mark.django_db


def _make(recipient, n: int, **fields) -> list[Notification]:
    start = timezone.now() - timedelta(minutes=n)
    return Notification.objects.bulk_create(
        Notification(
            recipient=recipient,
            kind="test",
            title=f"Notification {i}",
            created_at=start + timedelta(minutes=i),
            **fields,
        )
        for i in range(n)
    )


# --- notify() ------------------------------------------------------------------------------


def test_notify_creates_one_notification(rep):
    notification = notify(
        recipient=rep, kind="task_assigned", title="任务：回访张三", url="/customers/1/", body="明天之前"
    )
    assert notification is not None and notification.pk
    assert list(rep.notifications.all()) == [notification]
    assert notification.read_at is None and notification.kind == "task_assigned"


def test_the_same_dedupe_key_twice_notifies_once_and_the_second_call_returns_none(rep):
    first = notify(recipient=rep, kind="task_due", title="Due today", dedupe_key="task:7:due")
    second = notify(recipient=rep, kind="task_due", title="Due today", dedupe_key="task:7:due")
    assert first is not None
    assert second is None
    assert rep.notifications.count() == 1


def test_the_same_dedupe_key_for_two_recipients_notifies_both(rep, teammate):
    assert notify(recipient=rep, kind="sla", title="SLA", dedupe_key="ticket:3:sla")
    assert notify(recipient=teammate, kind="sla", title="SLA", dedupe_key="ticket:3:sla")
    assert Notification.objects.count() == 2


def test_an_empty_dedupe_key_never_deduplicates(rep):
    notify(recipient=rep, kind="note", title="One")
    notify(recipient=rep, kind="note", title="One")
    assert rep.notifications.count() == 2


def test_an_inactive_recipient_gets_nothing(rep):
    rep.is_active = False
    rep.save(update_fields=["is_active"])
    assert notify(recipient=rep, kind="task_assigned", title="Task") is None
    assert not Notification.objects.exists()


def test_a_long_title_is_shortened_to_fit(rep):
    notification = notify(recipient=rep, kind="task_assigned", title="长" * 250)
    notification.refresh_from_db()
    # The ellipsis is Django's, translated ("…", or "..." in zh-hans).
    assert len(notification.title) == 200 and notification.title.endswith(("…", "..."))


def test_a_duplicate_leaves_the_callers_transaction_usable(rep):
    with transaction.atomic():
        notify(recipient=rep, kind="k", title="t", dedupe_key="same")
        assert notify(recipient=rep, kind="k", title="t", dedupe_key="same") is None
        notify(recipient=rep, kind="k", title="t", dedupe_key="other")
    assert rep.notifications.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_processes_racing_with_the_same_key_create_one_notification(rep):
    """B checks before A commits (sees nothing), then its INSERT waits on A's row in the
    unique index; when A commits, B's insert fails and notify() answers None."""
    a_inserted, a_may_commit = threading.Event(), threading.Event()
    results = {}

    def a():
        try:
            with transaction.atomic():
                results["a"] = notify(recipient=rep, kind="k", title="t", dedupe_key="race")
                a_inserted.set()
                a_may_commit.wait(10)
        finally:
            connections.close_all()

    def b():
        try:
            results["b"] = notify(recipient=rep, kind="k", title="t", dedupe_key="race")
        finally:
            connections.close_all()

    thread_a = threading.Thread(target=a)
    thread_a.start()
    assert a_inserted.wait(10)
    thread_b = threading.Thread(target=b)
    thread_b.start()
    # Let A commit only once B is blocked on A's uncommitted row.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO \"core_notification\"%%'"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("B never waited on A's insert")
    a_may_commit.set()
    thread_a.join(10)
    thread_b.join(10)
    assert results["a"] is not None
    assert results["b"] is None
    assert Notification.objects.filter(recipient=rep, dedupe_key="race").count() == 1


# --- email ---------------------------------------------------------------------------------


def test_no_email_by_default(rep, mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.NOTIFICATION_EMAIL_ENABLED = False
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=rep, kind="task_assigned", title="Task")
    assert mailoutbox == []


def test_email_is_sent_once_when_enabled(rep, mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.NOTIFICATION_EMAIL_ENABLED = True
    rep.language = "en"
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=rep, kind="task_due", title="Call Zhang San", url="/c/1/", dedupe_key="d")
        notify(recipient=rep, kind="task_due", title="Call Zhang San", url="/c/1/", dedupe_key="d")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [rep.email]
    assert message.subject == "Call Zhang San"
    assert "Open it in the CRM: /c/1/" in message.body


def test_the_email_argument_overrides_the_setting(
    rep, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFICATION_EMAIL_ENABLED = True
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=rep, kind="k", title="Quiet", email=False)
    assert mailoutbox == []
    settings.NOTIFICATION_EMAIL_ENABLED = False
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=rep, kind="k", title="Loud", email=True)
    assert [m.subject for m in mailoutbox] == ["Loud"]


def test_no_email_without_an_address(rep, mailoutbox, django_capture_on_commit_callbacks):
    rep.email = ""
    with django_capture_on_commit_callbacks(execute=True):
        assert notify(recipient=rep, kind="k", title="t", email=True) is not None
    assert mailoutbox == []


def test_no_email_and_no_notification_when_the_callers_transaction_rolls_back(
    rep, mailoutbox, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(recipient=rep, kind="k", title="t", email=True)
        raise RuntimeError("the assignment failed")
    assert mailoutbox == []
    assert not Notification.objects.exists()


# --- marking read and counting -------------------------------------------------------------


def test_mark_read_by_ids_touches_only_the_users_own_unread(rep, teammate):
    mine = _make(rep, 3)
    theirs = _make(teammate, 1)
    assert notifications_mark_read(user=rep, ids=[mine[0].pk, theirs[0].pk]) == 1
    assert notifications_mark_read(user=rep, ids=[mine[0].pk]) == 0  # already read
    assert unread_count(rep) == 2
    assert unread_count(teammate) == 1
    assert notifications_mark_read(user=rep) == 2
    assert unread_count(rep) == 0


def test_unread_count_with_a_limit_stops_counting_there(rep):
    _make(rep, 12)
    assert unread_count(rep) == 12
    assert unread_count(rep, limit=10) == 10


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_badge_count_and_the_list_page_are_served_by_indexes(rep):
    # Mostly read, as in real life; with statistics the planner prefers the small partial index.
    _make(rep, 500, read_at=timezone.now())
    _make(rep, 3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_notification")
    unread = Notification.objects.filter(recipient=rep).unread().order_by().values("pk")[:100]
    assert "notification_unread_idx" in _plan(unread)
    page = Notification.objects.filter(recipient=rep).order_by("-created_at", "-pk")[:31]
    assert "notification_recent_idx" in _plan(page)


# --- the notification centre page ----------------------------------------------------------


def test_the_list_shows_only_my_notifications_newest_first(client, rep, teammate):
    _make(rep, 3)
    _make(teammate, 2)
    client.force_login(rep)
    response = client.get("/notifications/")
    assert response.status_code == 200
    shown = response.context["page"].object_list
    assert [n.title for n in shown] == ["Notification 2", "Notification 1", "Notification 0"]
    assert all(n.recipient_id == rep.pk for n in shown)
    assert response.content.decode().count('data-testid="notification"') == 3


def test_unread_notifications_are_highlighted(client, rep):
    read, unread = _make(rep, 2)
    notifications_mark_read(user=rep, ids=[read.pk])
    client.force_login(rep)
    body = client.get("/notifications/").content.decode()
    assert body.count('data-unread="true"') == 1
    assert 'data-testid="notifications-read-all"' in body


def test_an_empty_list_says_what_will_appear_here(client, rep):
    client.force_login(rep)
    response = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    assert 'data-testid="notifications-empty"' in body
    assert "assigned to you" in body
    assert 'data-testid="notifications-read-all"' not in body


def test_list_query_count_does_not_grow_with_the_number_of_notifications(client, rep):
    client.force_login(rep)
    counts = {}
    for total in (5, 40):
        Notification.objects.all().delete()
        _make(rep, total)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/notifications/")
        assert response.status_code == 200
        assert len(response.context["page"].object_list) == min(total, 30)
        counts[total] = len(ctx.captured_queries)
    # session, user, capped count, the page, the bell's unread count, the navigation's
    # permission check (user and group permissions) and its due-tasks badge; saving the
    # session (idle timeout, SESSION_SAVE_EVERY_REQUEST): an UPDATE, in a savepoint here (3).
    assert counts[5] == counts[40]
    assert counts[40] <= 11, counts


def test_the_list_pages_through_every_notification_once(client, rep):
    _make(rep, 65)
    client.force_login(rep)
    seen, url = [], "/notifications/"
    while url:
        page = client.get(url).context["page"]
        seen.extend(n.title for n in page.object_list)
        url = f"/notifications/?cursor={page.next_cursor}" if page.has_next else None
    assert seen == [f"Notification {i}" for i in reversed(range(65))]


def test_opening_a_notification_marks_it_read_and_goes_to_its_record(client, rep):
    notification = notify(recipient=rep, kind="task_assigned", title="Task", url="/customers/5/")
    client.force_login(rep)
    response = client.get(f"/notifications/{notification.pk}/open/")
    assert response.status_code == 302
    assert response["Location"] == "/customers/5/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_opening_a_notification_without_a_link_goes_back_to_the_list(client, rep):
    notification = notify(recipient=rep, kind="note", title="FYI")
    client.force_login(rep)
    response = client.get(f"/notifications/{notification.pk}/open/")
    assert response["Location"] == "/notifications/"
    notification.refresh_from_db()
    assert notification.is_read


def test_opening_another_users_notification_is_not_found(client, rep, teammate):
    notification = notify(recipient=teammate, kind="task_assigned", title="Task", url="/customers/5/")
    client.force_login(rep)
    assert client.get(f"/notifications/{notification.pk}/open/").status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize("url", ["https://evil.example.com/", "//evil.example.com/x", "javascript:alert(1)"])
def test_an_off_site_link_is_not_followed(client, rep, url):
    notification = notify(recipient=rep, kind="k", title="t", url=url)
    client.force_login(rep)
    response = client.get(f"/notifications/{notification.pk}/open/")
    assert response.status_code == 302
    assert response["Location"] == "/notifications/"


def test_read_all_needs_post(client, rep):
    _make(rep, 2)
    client.force_login(rep)
    assert client.get("/notifications/read-all/").status_code == 405
    assert unread_count(rep) == 2


def test_read_all_marks_only_my_notifications_read(client, rep, teammate):
    _make(rep, 3)
    _make(teammate, 2)
    client.force_login(rep)
    response = client.post("/notifications/read-all/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert unread_count(rep) == 0
    assert unread_count(teammate) == 2
    assert "3 notifications marked as read." in client.get(response["Location"]).content.decode()


# --- the bell ------------------------------------------------------------------------------


def test_the_bell_shows_no_badge_without_unread_notifications(client, rep):
    client.force_login(rep)
    body = client.get("/").content.decode()
    assert 'data-testid="notification-bell"' in body
    assert 'data-testid="notification-count"' not in body


def test_the_bell_shows_the_unread_count(client, rep, teammate):
    read = _make(rep, 8)[0]
    notifications_mark_read(user=rep, ids=[read.pk])
    _make(teammate, 4)
    client.force_login(rep)
    body = client.get("/").content.decode()
    assert 'data-testid="notification-count">7<' in body


def test_the_bell_shows_99_plus_above_99(client, rep):
    _make(rep, 99)
    client.force_login(rep)
    assert 'data-testid="notification-count">99<' in client.get("/").content.decode()
    _make(rep, 1)
    assert 'data-testid="notification-count">99+<' in client.get("/").content.decode()


def test_the_bell_costs_one_query(client, rep):
    client.force_login(rep)
    client.get("/")  # warm up the session
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    notification_queries = [q["sql"] for q in ctx.captured_queries if "core_notification" in q["sql"]]
    assert len(notification_queries) == 1, notification_queries


def test_anonymous_users_are_sent_to_log_in(client):
    for url in ("/notifications/", "/notifications/1/open/", "/notifications/read-all/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- admin ---------------------------------------------------------------------------------


def test_admin_lists_and_shows_notifications_but_cannot_add_them(client, admin_user, rep):
    notification = notify(recipient=rep, kind="task_assigned", title="任务")
    client.force_login(admin_user)
    response = client.get("/admin/core/notification/?q=rep")
    assert response.status_code == 200 and "任务" in response.content.decode()
    assert client.get(f"/admin/core/notification/{notification.pk}/change/").status_code == 200
    assert client.get("/admin/core/notification/add/").status_code == 403


# --- in a real browser ---------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_rep_follows_the_bell_to_the_record_and_the_badge_goes(page, live_server, client, rep, tmp_path):
    from playwright.sync_api import expect

    notify(recipient=rep, kind="task_assigned", title="回访张三", url="/notifications/?from=bell")
    notify(recipient=rep, kind="ticket_sla", title="工单即将超时", body="还有 30 分钟")
    client.force_login(rep)
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])

    page.goto(f"{live_server.url}/")
    expect(page.get_by_test_id("notification-count")).to_have_text("2")
    page.get_by_test_id("notification-bell").click()
    expect(page.get_by_test_id("notification")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "notifications.png"), full_page=True)
    page.get_by_text("回访张三").click()
    expect(page).to_have_url(f"{live_server.url}/notifications/?from=bell")
    expect(page.get_by_test_id("notification-count")).to_have_text("1")
    page.get_by_test_id("notifications-read-all").click()
    expect(page.get_by_test_id("notification-count")).to_have_count(0)
    expect(page.locator('[data-unread="true"]')).to_have_count(0)
