"""The dashboard's pre-computed figures (reports/services.py): what the job writes, that the
figures follow the records after a refresh (new records, deletions, reassignments), the
recent and the full rebuild, the refresh button and its permission, and the job's record."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from core.models import JobRun
from customers.services import customer_delete, customers_bulk_assign_owner
from customers.tests.factories import CustomerFactory
from interactions.tests.factories import make_interaction
from reports.models import Figure, FigureRefresh
from reports.scope import Period, Scope
from reports.selectors import key_figures
from reports.services import figures_refresh, figures_refresh_due, last_refresh
from reports.tasks import REFRESH_LOCK
from reports.tests import test_dashboard
from reports.tests.test_dashboard import NOV, NOV_QUERY, at
from sales.models import Order
from sales.tests.factories import make_order, make_product

world = test_dashboard.world  # the hand-built data set (a fixture)


@pytest.fixture(autouse=True)
def _no_refresh_lock():
    cache.delete(REFRESH_LOCK)
    yield
    cache.delete(REFRESH_LOCK)


def revenue(user, period=NOV) -> Decimal:
    return key_figures(Scope(user), period)["revenue"].value


def test_refreshing_twice_writes_the_same_rows(world):
    def rows():
        return sorted(
            Figure.objects.values_list(
                "metric",
                "day",
                "team",
                "owner",
                "live",
                "record_owner",
                "record_team",
                "dim",
                "dim2",
                "count",
                "amount",
            )
        )

    first = rows()
    figures_refresh()
    assert rows() == first
    assert FigureRefresh.objects.count() == 2


def test_a_new_order_counts_after_the_next_refresh(world, rep):
    today = timezone.localdate()
    period = Period(today - timedelta(days=29), today)
    before = revenue(rep, period)
    make_order(world["c1"], rep, [(make_product(), 1, 250)], ordered_at=timezone.now())
    assert revenue(rep, period) == before  # not yet: the figures are as of the last refresh
    figures_refresh_due()  # the every-few-minutes job: yesterday and today
    assert revenue(rep, period) == before + Decimal("250.00")


def test_the_recent_rebuild_keeps_older_days_and_the_full_one_redoes_them(world, rep):
    FigureRefresh.objects.all().delete()
    figures_refresh_due()  # nothing recorded yet: a full rebuild
    assert last_refresh().since is None
    figures_refresh_due()
    assert last_refresh().since == timezone.localdate() - timedelta(days=1)
    assert revenue(rep) == Decimal("1000.00")  # November survived the recent rebuild
    figures_refresh_due(full=True)
    assert last_refresh().since is None and revenue(rep) == Decimal("1000.00")


def test_a_deleted_customer_leaves_the_figures_but_the_order_owner_still_sees_their_order(
    world, rep, manager, admin_user
):
    c4 = world["c4"]
    make_order(c4, rep, [(make_product(), 1, 40)], ordered_at=at(date(2026, 11, 20)), owner=rep)
    figures_refresh()
    assert revenue(admin_user) == Decimal("1940.00")
    customer_delete(customer=c4, user=admin_user)
    figures_refresh()
    # As the order list (Order.objects.visible_to): the recycle bin's orders are gone, but the
    # rep still sees the order they own.
    assert revenue(admin_user) == Decimal("1200.00")
    assert revenue(rep) == Decimal("1040.00")
    for user in (rep, manager, admin_user):
        live = Order.objects.visible_to(user).counted().filter(NOV.q("ordered_at")).aggregate(s=Sum("total"))
        assert revenue(user) == live["s"]


def test_figures_follow_a_reassigned_customer_after_the_rebuild(world, rep, teammate):
    customers_bulk_assign_owner(
        customers=type(world["c1"]).objects.filter(pk=world["c1"].pk), owner=teammate, user=rep
    )
    figures_refresh()
    assert revenue(teammate) == Decimal("1200.00")  # c1's 1000 and c3's 200
    assert key_figures(Scope(rep), NOV)["new_customers"].value == 0


def test_interactions_of_live_customers_only_and_per_staff_member(world, rep, admin_user):
    make_interaction(world["c4"], rep, occurred_at=at(date(2026, 11, 9)))
    figures_refresh()
    rows = Figure.objects.filter(metric=Figure.Metric.INTERACTIONS, day=date(2026, 11, 9))
    assert [(r.owner_id, r.record_owner_id, r.count) for r in rows] == [(world["c4"].owner_id, rep.pk, 1)]


def test_the_dashboard_says_how_current_its_figures_are(world, client, manager):
    client.force_login(manager)
    html = client.get(reverse("reports:index"), NOV_QUERY, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Figures as of" in html and "every 10 minutes" in html
    assert reverse("reports:refresh") in html


def test_a_new_installation_computes_its_figures_on_the_first_visit(db, client, rep):
    CustomerFactory(owner=rep)
    assert not FigureRefresh.objects.exists()
    client.force_login(rep)
    response = client.get(reverse("reports:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert FigureRefresh.objects.count() == 1  # tasks run in-process here, as under `make run`
    assert 'data-testid="figure-new_customers" data-value="1"' in response.content.decode()


def test_managers_and_admins_may_update_now_reps_may_not(world, client, rep, manager, admin_user):
    url = reverse("reports:refresh")
    client.force_login(rep)
    assert client.post(url).status_code == 403
    assert reverse("reports:refresh") not in client.get(reverse("reports:index")).content.decode()
    client.force_login(manager)
    assert client.get(url).status_code == 405
    before = FigureRefresh.objects.count()
    response = client.post(url, {"query": "start=2026-11-01&end=2026-11-30"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"].endswith("?start=2026-11-01&end=2026-11-30")
    assert FigureRefresh.objects.count() == before + 1
    # Done (tasks run in-process here): the next click queues again; while one is queued or
    # running (the lock held), a click queues nothing more.
    cache.set(REFRESH_LOCK, 1, 60)
    response = client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert FigureRefresh.objects.count() == before + 1
    assert "already being brought up to date" in response.content.decode()
    cache.delete(REFRESH_LOCK)
    client.force_login(admin_user)
    assert client.post(url).status_code == 302
    assert FigureRefresh.objects.count() == before + 2


def test_the_job_and_the_command_are_recorded(world, capsys):
    from reports.tasks import refresh_figures

    counts = refresh_figures.delay(full=True).get()
    assert counts["revenue"] > 0
    call_command("refresh_report_figures")
    assert "revenue=" in capsys.readouterr().out
    runs = JobRun.objects.filter(name="report_figures", status=JobRun.Status.SUCCEEDED)
    assert runs.count() == 2


def test_the_default_period_counts_equal_the_records(rep, teammate, manager, other_rep, admin_user):
    """Active and top customers of the default period come from the job's per-partition rows;
    they must equal what the records give (the path of any other period)."""
    from reports.forms import default_period
    from reports.selectors import top_customers_chart

    now = timezone.now()
    product = make_product()
    owners = [rep, rep, teammate, other_rep, rep, teammate, other_rep, rep, rep, rep, rep, rep, teammate]
    for n, owner in enumerate(owners):
        c = CustomerFactory(name=f"客户{n}", owner=owner)
        make_order(c, owner, [(product, 1, 100 * (n % 5 + 1))], ordered_at=now - timedelta(days=n))
        make_interaction(c, owner, occurred_at=now - timedelta(days=n * 4))
    period = Period(*default_period())

    def seen(user):
        figures = key_figures(Scope(user), period)
        chart = top_customers_chart(Scope(user), period)
        return (
            figures["contacted_customers"].value,
            figures["contacted_customers"].previous,
            [(p.label, p.value) for p in chart.points],
        )

    figures_refresh()
    assert last_refresh().period_start == period.start
    precomputed = {user.pk: seen(user) for user in (rep, manager, other_rep, admin_user)}
    FigureRefresh.objects.update(period_start=None)  # now counted from the records
    assert {user.pk: seen(user) for user in (rep, manager, other_rep, admin_user)} == precomputed
    assert precomputed[admin_user.pk][0] == 8  # contacted in the last 30 days (n*4 <= 29)
    assert len(precomputed[admin_user.pk][2]) == 10
