"""The customer pool (公海) services: claim limits, the no-reclaim period, release, assignment,
the automatic return (run twice: one return, one warning) and the timeline."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone, translation

from core.models import JobRun, Notification
from customers import pool as pool_services
from customers.models import Customer, CustomerPool, CustomerPoolTeam, PoolEvent, pool_for_team
from customers.tests.factories import CustomerFactory
from customers.timeline import customer_timeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """The messages below are matched in English; test_messages_are_translated checks zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture
def default_pool():
    # Created by the data migration (customers 0011).
    return pool_for_team(None)


@pytest.fixture
def team_pool(team):
    pool = CustomerPool.objects.create(
        name="华东公海", max_held=3, max_claims_per_day=2, reclaim_block_days=7
    )
    CustomerPoolTeam.objects.create(pool=pool, team=team)
    return pool


def _pooled(team, **kwargs) -> Customer:
    return CustomerFactory(owner=None, team=team, **kwargs)


# --- which pool ----------------------------------------------------------------------------


def test_a_customer_without_owner_goes_to_its_teams_pool_else_the_default_pool(
    team, other_team, team_pool, default_pool
):
    assert _pooled(team).pool == team_pool
    assert _pooled(other_team).pool == default_pool
    assert pool_for_team(None) == default_pool


def test_a_rep_works_with_their_teams_pool_and_a_manager_with_the_default_pool_of_unpooled_teams(
    rep, other_rep, manager, admin_user, team_pool, default_pool
):
    assert list(CustomerPool.objects.for_user(rep)) == [team_pool]
    assert list(CustomerPool.objects.for_user(other_rep)) == [default_pool]
    assert set(CustomerPool.objects.for_user(admin_user)) == {team_pool, default_pool}


# --- claim ---------------------------------------------------------------------------------


def test_claiming_makes_the_rep_owner_and_records_an_event_and_history(rep, team, team_pool):
    customer = _pooled(team)
    pool_services.pool_customer_claim(customer=customer, user=rep)
    customer.refresh_from_db()
    assert customer.owner == rep and customer.team == rep.team
    event = PoolEvent.objects.get(customer=customer)
    assert (event.kind, event.owner, event.actor, event.pool) == ("claim", rep, rep, team_pool)
    assert customer.history.first().history_change_reason == "pool-claim"


def test_claiming_a_customer_that_has_an_owner_fails_and_changes_nothing(rep, teammate, team):
    customer = CustomerFactory(owner=teammate)
    with pytest.raises(ValidationError, match="already has an owner"):
        pool_services.pool_customer_claim(customer=customer, user=rep)
    customer.refresh_from_db()
    assert customer.owner == teammate
    assert not PoolEvent.objects.exists()


def test_messages_are_translated(rep, teammate, team):
    customer = CustomerFactory(owner=teammate)
    with translation.override("zh-hans"), pytest.raises(ValidationError, match="该客户已有负责人"):
        pool_services.pool_customer_claim(customer=customer, user=rep)


def test_the_claim_is_a_conditional_update_so_a_stale_copy_loses_the_race(rep, teammate, team):
    customer = _pooled(team)
    stale_copy = Customer.objects.get(pk=customer.pk)
    pool_services.pool_customer_claim(customer=customer, user=teammate)
    with pytest.raises(ValidationError, match="Someone else claimed"):
        pool_services.pool_customer_claim(customer=stale_copy, user=rep)
    customer.refresh_from_db()
    assert customer.owner == teammate
    assert PoolEvent.objects.filter(kind="claim").count() == 1


def test_a_rep_cannot_hold_more_customers_than_the_pool_allows(rep, team, team_pool):
    for _ in range(3):
        CustomerFactory(owner=rep)
    customer = _pooled(team)
    with pytest.raises(ValidationError, match="already hold 3 customers"):
        pool_services.pool_customer_claim(customer=customer, user=rep)
    customer.refresh_from_db()
    assert customer.owner is None


def test_a_rep_cannot_claim_more_per_day_than_the_pool_allows(rep, team, team_pool):
    now = timezone.now()
    first, second, third = _pooled(team), _pooled(team), _pooled(team)
    pool_services.pool_customer_claim(customer=first, user=rep, now=now)
    pool_services.pool_customer_claim(customer=second, user=rep, now=now)
    with pytest.raises(ValidationError, match="claimed 2 customers today"):
        pool_services.pool_customer_claim(customer=third, user=rep, now=now)
    third.refresh_from_db()
    assert third.owner is None
    # The next day the limit starts again (and the rep holds 2 of 3).
    pool_services.pool_customer_claim(customer=third, user=rep, now=now + timedelta(days=1))
    third.refresh_from_db()
    assert third.owner == rep


def test_a_released_customer_cannot_be_reclaimed_by_the_same_rep_within_the_period(
    rep, teammate, team, team_pool
):
    now = timezone.now()
    customer = CustomerFactory(owner=rep)
    pool_services.pool_customer_release(customer=customer, user=rep, reason="不需要了", now=now)
    customer.refresh_from_db()
    with pytest.raises(ValidationError, match="released this customer recently"):
        pool_services.pool_customer_claim(customer=customer, user=rep, now=now + timedelta(days=6))
    customer.refresh_from_db()
    assert customer.owner is None
    # A colleague may claim it at once; the rep after the period.
    pool_services.pool_customer_claim(customer=customer, user=rep, now=now + timedelta(days=7, minutes=1))
    customer.refresh_from_db()
    assert customer.owner == rep


def test_a_colleague_may_claim_a_customer_released_a_moment_ago(rep, teammate, team, team_pool):
    customer = CustomerFactory(owner=rep)
    pool_services.pool_customer_release(customer=customer, user=rep, reason="换人跟进")
    customer.refresh_from_db()
    pool_services.pool_customer_claim(customer=customer, user=teammate)
    customer.refresh_from_db()
    assert customer.owner == teammate


# --- release -------------------------------------------------------------------------------


def test_releasing_sends_the_customer_to_its_teams_pool_with_the_reason(rep, team, team_pool):
    customer = CustomerFactory(owner=rep)
    pool_services.pool_customer_release(customer=customer, user=rep, reason="客户已转行")
    customer.refresh_from_db()
    assert customer.owner is None and customer.pool == team_pool and customer.team == team
    event = PoolEvent.objects.get(customer=customer)
    assert (event.kind, event.owner, event.reason) == ("release", rep, "客户已转行")


def test_releasing_without_a_reason_fails_and_changes_nothing(rep):
    customer = CustomerFactory(owner=rep)
    with pytest.raises(ValidationError, match="Give a reason"):
        pool_services.pool_customer_release(customer=customer, user=rep, reason="   ")
    customer.refresh_from_db()
    assert customer.owner == rep
    assert not PoolEvent.objects.exists()


# --- assignment ----------------------------------------------------------------------------


def test_a_manager_assigns_pool_customers_to_a_rep_of_their_team(manager, rep, team, team_pool):
    customers = [_pooled(team) for _ in range(5)]  # more than the rep's hold limit: not applied
    result = pool_services.pool_customers_assign(
        customers=Customer.objects.filter(pk__in=[c.pk for c in customers]), owner=rep, user=manager
    )
    assert result.assigned == 5
    assert Customer.objects.filter(owner=rep).count() == 5
    assert PoolEvent.objects.filter(kind="assign", owner=rep, actor=manager).count() == 5
    assert Notification.objects.filter(recipient=rep, kind="pool_assigned").count() == 1


def test_a_manager_cannot_assign_to_someone_outside_their_teams(manager, other_rep, team, team_pool):
    customer = _pooled(team)
    with pytest.raises(ValidationError, match="not in a team you manage"):
        pool_services.pool_customers_assign(
            customers=Customer.objects.filter(pk=customer.pk), owner=other_rep, user=manager
        )
    customer.refresh_from_db()
    assert customer.owner is None
    assert not PoolEvent.objects.exists()


def test_an_admin_assigns_to_anyone(admin_user, other_rep, team, team_pool):
    customer = _pooled(team)
    pool_services.pool_customers_assign(
        customers=Customer.objects.filter(pk=customer.pk), owner=other_rep, user=admin_user
    )
    customer.refresh_from_db()
    assert customer.owner == other_rep


def test_assignment_skips_customers_claimed_meanwhile(manager, rep, teammate, team, team_pool):
    free, taken = _pooled(team), _pooled(team)
    pool_services.pool_customer_claim(customer=taken, user=teammate)
    result = pool_services.pool_customers_assign(
        customers=Customer.objects.filter(pk__in=[free.pk, taken.pk]), owner=rep, user=manager
    )
    assert (result.assigned, result.skipped) == (1, 1)
    taken.refresh_from_db()
    assert taken.owner == teammate


# --- the automatic return ------------------------------------------------------------------


@pytest.fixture
def return_rule(team_pool):
    team_pool.return_without_interaction_days = 30
    team_pool.warn_days_before = 3
    team_pool.save()
    return team_pool


def _aged(customer: Customer, days: int, **fields) -> None:
    Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=days), **fields)


def test_automatic_return_warns_first_and_run_twice_returns_once(rep, team, return_rule):
    now = timezone.now()
    due = CustomerFactory(owner=rep, name="该退回")
    _aged(due, 40, last_contacted_at=now - timedelta(days=31))
    nearly = CustomerFactory(owner=rep, name="快到期")
    _aged(nearly, 40, last_contacted_at=now - timedelta(days=28))
    fresh = CustomerFactory(owner=rep, name="刚联系")
    _aged(fresh, 40, last_contacted_at=now - timedelta(days=2))
    # Three days ago `due` was 28 days without contact: its owner was warned then.
    assert pool_services.pool_return_due(now=now - timedelta(days=3)) == {"returned": 0, "warned": 1}

    # Today, twice: once through the management command (as the Celery task, via run_job).
    call_command("pool_auto_return", stdout=StringIO())
    second = pool_services.pool_return_due()

    assert second == {"returned": 0, "warned": 0}
    due.refresh_from_db(), nearly.refresh_from_db(), fresh.refresh_from_db()
    assert due.owner is None and due.pool == return_rule
    assert nearly.owner == rep and fresh.owner == rep
    event = PoolEvent.objects.get(kind="auto_return")
    assert (event.customer, event.owner, event.actor, event.reason) == (due, rep, None, "no_interaction:30")
    warnings = PoolEvent.objects.filter(kind="return_warning")
    assert sorted(warnings.values_list("customer__name", flat=True)) == ["快到期", "该退回"]
    assert Notification.objects.filter(recipient=rep, kind="pool_return_warning").count() == 2
    assert Notification.objects.filter(recipient=rep, kind="pool_returned").count() == 1
    run = JobRun.objects.get(name=pool_services.AUTO_RETURN_JOB_NAME)
    assert run.counts == {"returned": 1, "warned": 1}


def test_a_customer_long_past_the_limit_is_warned_first_and_returned_after_the_notice(rep, team, return_rule):
    # E.g. the rule was just switched on: nobody loses a customer without notice.
    now = timezone.now()
    customer = CustomerFactory(owner=rep)
    _aged(customer, 100)
    assert pool_services.pool_return_due(now=now) == {"returned": 0, "warned": 1}
    assert pool_services.pool_return_due(now=now + timedelta(days=2)) == {"returned": 0, "warned": 0}
    assert pool_services.pool_return_due(now=now + timedelta(days=3)) == {"returned": 1, "warned": 0}
    customer.refresh_from_db()
    assert customer.owner is None


def test_a_follow_up_after_the_warning_keeps_the_customer_and_a_later_lapse_warns_again(
    rep, team, return_rule
):
    now = timezone.now()
    customer = CustomerFactory(owner=rep)
    _aged(customer, 40, last_contacted_at=now - timedelta(days=28))
    assert pool_services.pool_return_due(now=now) == {"returned": 0, "warned": 1}
    Customer.objects.filter(pk=customer.pk).update(last_contacted_at=now + timedelta(days=1))
    assert pool_services.pool_return_due(now=now + timedelta(days=5)) == {"returned": 0, "warned": 0}
    # 28 days after that follow-up: a new deadline, a new warning.
    assert pool_services.pool_return_due(now=now + timedelta(days=29)) == {"returned": 0, "warned": 1}
    customer.refresh_from_db()
    assert customer.owner == rep


def test_the_clock_starts_again_when_the_customer_is_claimed(rep, team, return_rule):
    customer = _pooled(team)
    _aged(customer, 100)
    pool_services.pool_customer_claim(customer=Customer.objects.get(pk=customer.pk), user=rep)
    assert pool_services.pool_return_due() == {"returned": 0, "warned": 0}


def test_no_purchase_rule_returns_customers_without_a_recent_purchase(rep, team, team_pool):
    team_pool.return_without_deal_days = 90
    team_pool.warn_days_before = 0  # no notice: returned at the deadline
    team_pool.save()
    bought = CustomerFactory(owner=rep)
    _aged(bought, 200, last_purchase_at=timezone.now() - timedelta(days=10))
    never = CustomerFactory(owner=rep)
    _aged(never, 200)
    counts = pool_services.pool_return_due()
    assert counts["returned"] == 1
    never.refresh_from_db(), bought.refresh_from_db()
    assert never.owner is None and bought.owner == rep


def test_pools_without_a_rule_return_nothing(rep, default_pool):
    customer = CustomerFactory(owner=rep)
    _aged(customer, 1000)
    assert pool_services.pool_return_due() == {"returned": 0, "warned": 0}


def test_the_default_pools_rule_covers_teams_without_a_pool(other_rep, default_pool, team_pool):
    default_pool.return_without_interaction_days = 10
    default_pool.warn_days_before = 0
    default_pool.save()
    customer = CustomerFactory(owner=other_rep)
    _aged(customer, 20)
    assert pool_services.pool_return_due()["returned"] == 1
    customer.refresh_from_db()
    assert customer.pool == default_pool


# --- timeline ------------------------------------------------------------------------------


def test_every_pool_event_is_on_the_customer_timeline(rep, teammate, manager, team, team_pool):
    customer = CustomerFactory(owner=rep)
    pool_services.pool_customer_release(customer=customer, user=rep, reason="不合适")
    customer.refresh_from_db()
    pool_services.pool_customer_claim(customer=customer, user=teammate)
    entries = [e for e in customer_timeline(customer, manager) if e.kind == "pool"]
    assert [e.title for e in entries] == [
        f"Claimed from 华东公海 by {teammate}",
        f"Released to 华东公海 (owner was {rep})",
    ]
    assert entries[1].body == "不合适"


# --- other ways in and out of the pool -------------------------------------------------------


def test_owner_changes_on_the_form_and_in_bulk_are_pool_events_too(manager, rep, teammate, team, team_pool):
    from customers.services import customer_update, customers_bulk_assign_owner

    customer = CustomerFactory(owner=rep)
    customer_update(customer=customer, user=manager, data={"owner": None})
    customer.refresh_from_db()
    assert customer.pool == team_pool
    customer_update(customer=customer, user=manager, data={"owner": teammate})
    other = _pooled(team)
    customers_bulk_assign_owner(customers=Customer.objects.filter(pk=other.pk), owner=rep, user=manager)
    assert list(PoolEvent.objects.order_by("id").values_list("customer_id", "kind", "owner_id")) == [
        (customer.pk, "release", rep.pk),
        (customer.pk, "assign", teammate.pk),
        (other.pk, "assign", rep.pk),
    ]


def test_erasing_a_customer_empties_the_typed_release_reasons(rep, admin_user, team_pool):
    from customers.privacy import customer_erase

    customer = CustomerFactory(owner=rep, name="王小二")
    pool_services.pool_customer_release(customer=customer, user=rep, reason="王小二说不要再打 13812345678")
    customer.refresh_from_db()
    customer_erase(customer=customer, user=admin_user, reason="本人要求")
    event = PoolEvent.objects.get(customer=customer)
    assert event.reason == "" and event.kind == "release"


def test_the_celery_task_runs_the_same_job_and_records_the_run(rep, team, return_rule):
    from django.conf import settings

    from customers.tasks import pool_auto_return

    customer = CustomerFactory(owner=rep)
    _aged(customer, 60)
    assert settings.CELERY_BEAT_SCHEDULE["pool-auto-return"]["task"] == pool_auto_return.name
    assert pool_auto_return.delay().get() == {"returned": 0, "warned": 1}
    assert pool_auto_return.delay().get() == {"returned": 0, "warned": 0}
    assert JobRun.objects.filter(name="pool_auto_return", status=JobRun.Status.SUCCEEDED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_reps_claiming_the_same_customer_at_once_one_wins(rep, teammate, team):
    customer = _pooled(team)
    barrier = threading.Barrier(2)
    results = {}

    def claim(user):
        stale = Customer.objects.get(pk=customer.pk)  # both read "no owner"
        try:
            barrier.wait(timeout=10)
            pool_services.pool_customer_claim(customer=stale, user=user)
            results[user.username] = "won"
        except ValidationError:
            results[user.username] = "lost"
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in (rep, teammate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == ["lost", "won"]
    customer.refresh_from_db()
    winner = rep if results["rep"] == "won" else teammate
    assert customer.owner == winner
    assert list(PoolEvent.objects.values_list("kind", "owner_id")) == [("claim", winner.pk)]
