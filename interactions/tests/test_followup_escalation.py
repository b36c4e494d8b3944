"""Follow-up escalation (跟进超时): the owner is reminded first, the managers after M more days."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from core.models import AuditLog, JobRun, Notification, Role
from core.tests.factories import TeamFactory, UserFactory
from customers.models import Customer, PoolEvent
from customers.tests.factories import CustomerFactory
from customers.timeline import customer_timeline
from interactions.escalation import JOB_NAME, TASK_RULE, followup_escalation_run, rule_for
from interactions.models import FollowUpEvent, FollowUpRule, Task
from interactions.tests.factories import make_interaction

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _rule(**kwargs) -> FollowUpRule:
    kwargs.setdefault("name", "7 天未跟进")
    kwargs.setdefault("remind_after_days", 7)
    kwargs.setdefault("escalate_after_days", 5)
    rule = FollowUpRule(**kwargs)
    rule.full_clean()
    rule.save()
    return rule


def _contacted(customer, at) -> Customer:
    """Last interaction (and creation) at `at`."""
    Customer.objects.filter(pk=customer.pk).update(last_contacted_at=at, created_at=at - timedelta(days=400))
    customer.refresh_from_db()
    return customer


def _run(at, **kwargs):
    with time_machine.travel(at, tick=False):
        return followup_escalation_run(**kwargs)


def _titles(user) -> list[str]:
    return list(Notification.objects.filter(recipient=user).order_by("id").values_list("title", flat=True))


@pytest.fixture
def english(rep, manager, teammate, admin_user):
    for user in (rep, manager, teammate, admin_user):
        user.language = "en"
        user.save(update_fields=["language"])


# --- escalation order ---------------------------------------------------------------------


def test_the_owner_is_reminded_first_and_the_manager_only_after_m_more_days(rep, manager, teammate, english):
    _rule(remind_after_days=7, escalate_after_days=5)
    customer = _contacted(CustomerFactory(name="张三", owner=rep), T0)

    # Day 6: nothing yet.
    assert _run(T0 + timedelta(days=6, hours=23))["reminded"] == 0
    assert not Task.objects.exists() and not Notification.objects.exists()

    # Day 8: the owner gets a task and a notification; the manager hears nothing.
    counts = _run(T0 + timedelta(days=8))
    assert counts == {"rules": 1, "reminded": 1, "escalated": 0, "returned": 0}
    task = Task.objects.get(rule=TASK_RULE)
    assert task.assignee == rep and task.customer == customer and task.is_open
    assert task.title == "Follow up with 张三: no interaction for 8 days"
    assert task.due_at == T0 + timedelta(days=13)  # the escalation date
    assert _titles(rep) == ["No follow-up with 张三 for 8 days"]
    assert Notification.objects.get(recipient=rep).body.startswith("Log an interaction by 2026-03-15")
    assert _titles(manager) == [] and _titles(teammate) == []
    customer.refresh_from_db()
    assert customer.followup_reminded_at == T0 + timedelta(days=8)
    assert customer.followup_escalated_at is None

    # Reminder + 4 days: still only the owner knows.
    assert _run(T0 + timedelta(days=12, hours=23))["escalated"] == 0
    assert _titles(manager) == []

    # Reminder + 5 days: the manager is told, the owner too, the customer is high-risk.
    counts = _run(T0 + timedelta(days=13, minutes=1))
    assert counts == {"rules": 1, "reminded": 0, "escalated": 1, "returned": 0}
    assert _titles(manager) == ["Follow-up overdue: 张三, no interaction for 13 days"]
    assert f"{rep} was reminded on 2026-03-10" in Notification.objects.get(recipient=manager).body
    assert _titles(rep)[-1] == "Escalated: no follow-up with 张三 since the reminder"
    assert _titles(teammate) == []
    customer.refresh_from_db()
    assert customer.followup_escalated_at == T0 + timedelta(days=13, minutes=1)
    assert customer.owner == rep  # the rule does not return it to the pool

    # Order of the stages, also on the timeline.
    events = list(FollowUpEvent.objects.order_by("at").values_list("kind", "owner__username", "days"))
    assert events == [("reminder", "rep", 8), ("escalation", "rep", 13)]
    with translation.override("en"):
        titles = [e.title for e in customer_timeline(customer, manager, kinds=["followup"])]
    assert titles == [
        "Follow-up escalated, customer marked high-risk (no interaction for 13 days)",
        f"Follow-up overdue: {rep} reminded (no interaction for 8 days)",
    ]


def test_a_customer_overdue_for_long_still_gets_the_reminder_and_its_m_days_first(rep, manager):
    # A rule switched on today: the 90-day-old customer is reminded now, escalated 5 days later.
    _rule()
    _contacted(CustomerFactory(owner=rep), T0 - timedelta(days=90))
    assert _run(T0) == {"rules": 1, "reminded": 1, "escalated": 0, "returned": 0}
    assert _run(T0 + timedelta(days=4))["escalated"] == 0
    assert _run(T0 + timedelta(days=5))["escalated"] == 1


def test_running_twice_gives_one_reminder_one_escalation_and_one_pool_return(rep, manager):
    _rule(return_to_pool=True)
    customer = _contacted(CustomerFactory(owner=rep), T0)
    for _ in range(2):
        _run(T0 + timedelta(days=8))
    assert Task.objects.filter(rule=TASK_RULE).count() == 1
    assert FollowUpEvent.objects.filter(kind="reminder").count() == 1
    assert Notification.objects.filter(recipient=rep, kind="followup_reminder").count() == 1
    first = _run(T0 + timedelta(days=14))
    second = _run(T0 + timedelta(days=14))
    third = _run(T0 + timedelta(days=15))
    assert (first["escalated"], first["returned"]) == (1, 1)
    assert second == third == {"rules": 1, "reminded": 0, "escalated": 0, "returned": 0}
    assert FollowUpEvent.objects.filter(kind="escalation").count() == 1
    assert Notification.objects.filter(recipient=manager, kind="followup_escalated").count() == 1
    assert PoolEvent.objects.filter(customer=customer, kind=PoolEvent.Kind.AUTO_RETURN).count() == 1


def test_the_escalation_can_return_the_customer_to_its_pool(rep, manager, english):
    _rule(return_to_pool=True)
    customer = _contacted(CustomerFactory(name="李四", owner=rep), T0)
    _run(T0 + timedelta(days=8))
    task = Task.objects.get(rule=TASK_RULE)
    _run(T0 + timedelta(days=14))
    customer.refresh_from_db()
    assert customer.owner is None and customer.pool is not None
    assert customer.followup_escalated_at is not None  # still high-risk for whoever claims it
    event = PoolEvent.objects.get(customer=customer)
    assert (event.kind, event.owner, event.actor, event.reason) == (
        "auto_return",
        rep,
        None,
        "followup_escalation:14",
    )
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED  # the former owner's reminder is void
    assert FollowUpEvent.objects.get(kind="escalation").returned_to_pool
    assert "It went back to the customer pool." in Notification.objects.get(recipient=manager).body
    with translation.override("en"):
        entries = customer_timeline(customer, manager, kinds=["pool", "followup"])
    bodies = " | ".join(f"{e.title} {e.body}" for e in entries)
    assert "No follow-up for 14 days (follow-up escalation)" in bodies
    assert f"Returned to the customer pool (owner was {rep})." in bodies
    # Without an owner it is skipped from now on.
    assert _run(T0 + timedelta(days=60)) == {"rules": 1, "reminded": 0, "escalated": 0, "returned": 0}


# --- who is told ------------------------------------------------------------------------------


def test_admins_are_told_when_the_team_has_no_other_manager(rep, manager, admin_user, english):
    _rule()
    lone = TeamFactory(name="无经理部")
    no_manager = _contacted(
        CustomerFactory(name="无经理", owner=UserFactory(role=Role.SALES_REP, team=lone)), T0
    )
    # The owner is the team's only manager: escalating "above the owner" means the admins.
    own = _contacted(CustomerFactory(name="经理自己的", owner=manager), T0)
    normal = _contacted(CustomerFactory(name="普通", owner=rep), T0)
    _run(T0 + timedelta(days=8))
    _run(T0 + timedelta(days=14))
    admin_titles = _titles(admin_user)
    assert sorted(t.split(",")[0] for t in admin_titles) == [
        "Follow-up overdue: 无经理",
        "Follow-up overdue: 经理自己的",
    ]
    assert [t for t in _titles(manager) if t.startswith("Follow-up overdue")] == [
        "Follow-up overdue: 普通, no interaction for 14 days"
    ]
    notified = dict(FollowUpEvent.objects.filter(kind="escalation").values_list("customer", "notified"))
    assert notified == {no_manager.pk: str(admin_user), own.pk: str(admin_user), normal.pk: str(manager)}


def test_notifications_are_written_in_each_recipients_language(rep, manager):
    rep.language = "en"
    rep.save(update_fields=["language"])
    manager.language = "zh-hans"
    manager.save(update_fields=["language"])
    _rule()
    _contacted(CustomerFactory(name="王五", owner=rep), T0)
    seen = []
    from interactions import escalation

    real_notify = escalation.notify

    def spy(**kwargs):
        seen.append((kwargs["recipient"].username, translation.get_language()))
        return real_notify(**kwargs)

    escalation.notify = spy
    try:
        _run(T0 + timedelta(days=8))
        _run(T0 + timedelta(days=14))
    finally:
        escalation.notify = real_notify
    assert ("rep", "en") in seen and ("manager", "zh-hans") in seen


def test_an_inactive_owner_gets_no_task_but_the_manager_still_hears(rep, manager):
    _rule()
    customer = _contacted(CustomerFactory(owner=rep), T0)
    rep.is_active = False
    rep.save(update_fields=["is_active"])
    assert _run(T0 + timedelta(days=8))["reminded"] == 1
    assert not Task.objects.exists()
    assert FollowUpEvent.objects.get(kind="reminder", customer=customer).task is None
    assert _run(T0 + timedelta(days=14))["escalated"] == 1
    assert Notification.objects.filter(recipient=manager, kind="followup_escalated").exists()


# --- an interaction clears ------------------------------------------------------------------


def test_logging_an_interaction_clears_the_marks_closes_the_task_and_starts_a_new_period(rep, manager):
    _rule()
    customer = _contacted(CustomerFactory(owner=rep), T0)
    _run(T0 + timedelta(days=8))
    _run(T0 + timedelta(days=14))
    with time_machine.travel(T0 + timedelta(days=15), tick=False):
        make_interaction(customer, rep, occurred_at=timezone.now())
    customer.refresh_from_db()
    assert customer.followup_reminded_at is None and customer.followup_escalated_at is None
    task = Task.objects.get(rule=TASK_RULE)
    assert task.status == Task.Status.DONE and task.completed_by == rep
    # The next period counts from that interaction: reminded again 7 days later, with a new task.
    assert _run(T0 + timedelta(days=21))["reminded"] == 0
    assert _run(T0 + timedelta(days=22, minutes=1))["reminded"] == 1
    assert Task.objects.filter(rule=TASK_RULE).count() == 2
    assert Task.objects.filter(rule=TASK_RULE, status="open").count() == 1


def test_an_interaction_logged_before_the_escalation_stops_it(rep, manager):
    _rule()
    customer = _contacted(CustomerFactory(owner=rep), T0)
    _run(T0 + timedelta(days=8))
    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        make_interaction(customer, rep, occurred_at=timezone.now())
    assert _run(T0 + timedelta(days=14))["escalated"] == 0
    assert not Notification.objects.filter(recipient=manager).exists()


def test_editing_an_interaction_to_a_later_time_also_clears(rep, manager):
    from interactions.services import interaction_update

    _rule()
    customer = _contacted(CustomerFactory(owner=rep), T0)
    with time_machine.travel(T0, tick=False):
        interaction = make_interaction(customer, rep, occurred_at=T0)
    _run(T0 + timedelta(days=8))
    with time_machine.travel(T0 + timedelta(days=9), tick=False):
        interaction_update(interaction=interaction, user=manager, data={"occurred_at": timezone.now()})
    customer.refresh_from_db()
    assert customer.followup_reminded_at is None
    task = Task.objects.get(rule=TASK_RULE)
    assert task.status == Task.Status.DONE and task.completed_by == manager


def test_an_older_interaction_does_not_clear(rep, manager):
    # Logged late for a day before the last contact: "last contacted" does not move.
    _rule()
    customer = _contacted(CustomerFactory(owner=rep), T0)
    _run(T0 + timedelta(days=8))
    with time_machine.travel(T0 + timedelta(days=9), tick=False):
        make_interaction(customer, rep, occurred_at=T0 - timedelta(days=3))
    customer.refresh_from_db()
    assert customer.followup_reminded_at is not None
    assert Task.objects.get(rule=TASK_RULE).is_open


# --- skipped customers ---------------------------------------------------------------------------


def test_customers_without_owner_deleted_merged_or_anonymised_are_skipped(rep, manager):
    _rule()
    pool = _contacted(CustomerFactory(name="公海", owner=None), T0)
    deleted = _contacted(CustomerFactory(name="已删除", owner=rep), T0)
    survivor = _contacted(CustomerFactory(name="保留", owner=rep), T0 + timedelta(days=30))
    merged = _contacted(CustomerFactory(name="已合并", owner=rep), T0)
    anonymised = _contacted(CustomerFactory(name="已匿名", owner=rep), T0)
    Customer.objects.filter(pk=deleted.pk).update(deleted_at=T0)
    Customer.objects.filter(pk=merged.pk).update(deleted_at=T0, merged_into=survivor)
    Customer.objects.filter(pk=anonymised.pk).update(anonymised_at=T0, name="")
    counts = _run(T0 + timedelta(days=20))
    assert counts["reminded"] == 0
    assert not FollowUpEvent.objects.exists() and not Task.objects.exists()
    assert pool.owner is None


def test_no_active_rule_means_nothing_happens(rep):
    _rule(active=False)
    _contacted(CustomerFactory(owner=rep), T0)
    assert _run(T0 + timedelta(days=100)) == {"rules": 0, "reminded": 0, "escalated": 0, "returned": 0}


def test_a_customer_never_contacted_counts_from_its_creation(rep):
    _rule()
    customer = CustomerFactory(owner=rep)
    Customer.objects.filter(pk=customer.pk).update(created_at=T0, last_contacted_at=None)
    assert _run(T0 + timedelta(days=6))["reminded"] == 0
    assert _run(T0 + timedelta(days=7, minutes=1))["reminded"] == 1


# --- which rule applies ----------------------------------------------------------------------


def test_the_most_specific_rule_applies_then_the_shortest_period(rep, other_rep, team):
    general = _rule(name="全部 30 天", remind_after_days=30)
    vip = _rule(name="VIP 7 天", value_tier="vip", remind_after_days=7)
    team_vip = _rule(name="本组 VIP 20 天", value_tier="vip", team=team, remind_after_days=20)
    churned = _rule(name="流失 3 天", lifecycle_stage="churned", remind_after_days=3)
    new_tier = _rule(name="潜在 10 天", value_tier="potential", remind_after_days=10)
    customers = {
        "普通": CustomerFactory(owner=rep, value_tier="active", lifecycle_stage="existing"),
        "本组VIP": CustomerFactory(owner=rep, value_tier="vip"),
        "他组VIP": CustomerFactory(owner=other_rep, value_tier="vip"),
        "流失潜在": CustomerFactory(owner=rep, value_tier="potential", lifecycle_stage="churned"),
        "潜在": CustomerFactory(owner=rep, value_tier="potential", lifecycle_stage="new"),
    }
    for customer in customers.values():
        _contacted(customer, T0)
    rules = FollowUpRule.objects.in_precedence()
    chosen = {name: rule_for(c, rules) for name, c in customers.items()}
    # Team + tier beats tier alone, even with a longer period; tier vs stage (equally specific):
    # the shorter period wins.
    assert chosen == {
        "普通": general,
        "本组VIP": team_vip,
        "他组VIP": vip,
        "流失潜在": churned,
        "潜在": new_tier,
    }
    # The job agrees: after 8 days only 他组VIP (7) and 流失潜在 (3) are due.
    _run(T0 + timedelta(days=8))
    reminded = set(Customer.objects.filter(followup_reminded_at__isnull=False).values_list("pk", flat=True))
    assert reminded == {customers["他组VIP"].pk, customers["流失潜在"].pk}
    assert set(FollowUpEvent.objects.values_list("rule", flat=True)) == {vip.pk, churned.pk}
    _run(T0 + timedelta(days=21))
    assert set(FollowUpEvent.objects.filter(kind="reminder").values_list("rule", flat=True)) == {
        vip.pk,
        churned.pk,
        team_vip.pk,
        new_tier.pk,
    }


def test_a_rule_behind_a_catch_all_of_equal_rank_never_applies(rep):
    # Two rules without criteria cannot both be active through the admin; if they are (bulk
    # edits), the shorter one governs everyone and the job does not act twice.
    _rule(name="A", remind_after_days=7)
    b = FollowUpRule.objects.create(name="B", remind_after_days=3, escalate_after_days=2)
    _contacted(CustomerFactory(owner=rep), T0)
    assert _run(T0 + timedelta(days=8))["reminded"] == 1
    assert FollowUpEvent.objects.get().rule == b


# --- validation ------------------------------------------------------------------------------


def test_days_must_be_positive(db):
    for field in ("remind_after_days", "escalate_after_days"):
        with pytest.raises(ValidationError) as error:
            FollowUpRule(name="x", **{field: 0}).full_clean()
        assert field in error.value.message_dict
        with pytest.raises(IntegrityError), transaction.atomic():
            FollowUpRule.objects.create(name="x", **{field: 0})


def test_two_active_rules_with_the_same_criteria_are_refused(team):
    _rule(name="VIP", value_tier="vip", team=team)
    with (
        translation.override("en"),
        pytest.raises(ValidationError, match="already applies to the same customers"),
    ):
        FollowUpRule(name="VIP again", value_tier="vip", team=team).full_clean()
    # Different criteria, or an inactive copy, are fine.
    FollowUpRule(name="VIP all teams", value_tier="vip").full_clean()
    FollowUpRule(name="VIP old", value_tier="vip", team=team, active=False).full_clean()
    _rule(name="全部")
    with pytest.raises(ValidationError):
        FollowUpRule(name="全部 2").full_clean()


# --- the job: dry run, job run, batches ---------------------------------------------------------


def test_the_command_dry_run_counts_and_changes_nothing(rep, manager, capsys):
    _rule()
    _contacted(CustomerFactory(owner=rep), T0)
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        call_command("followup_escalation", "--dry-run")
        assert "dry-run rules=1 reminded=1 escalated=0 returned=0" in capsys.readouterr().out
        assert not Task.objects.exists() and not JobRun.objects.exists()
        assert not Customer.objects.filter(followup_reminded_at__isnull=False).exists()
        call_command("followup_escalation")
        assert "reminded=1" in capsys.readouterr().out
    run = JobRun.objects.get(name=JOB_NAME)
    assert run.status == JobRun.Status.SUCCEEDED and run.counts["reminded"] == 1


def test_the_celery_task_records_a_job_run_and_is_scheduled(rep, settings):
    from interactions.tasks import followup_escalation

    _rule()
    _contacted(CustomerFactory(owner=rep), T0)
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        assert followup_escalation.apply().get()["reminded"] == 1
    assert JobRun.objects.get(name=JOB_NAME).counts["reminded"] == 1
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "interactions.tasks.followup_escalation" in scheduled


def _queries(at, batch_size) -> tuple[int, int]:
    """(all queries, customer batch reads) of one run."""
    with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as ctx:
        followup_escalation_run(batch_size=batch_size)
    batch_reads = [
        q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "customers_customer"."id"')
    ]
    return len(ctx.captured_queries), len(batch_reads)


def test_the_job_reads_customers_in_batches_with_a_fixed_cost_per_customer(rep, teammate, manager):
    _rule()
    for i in range(5):
        _contacted(CustomerFactory(owner=rep if i % 2 else teammate), T0)
    total5, reads5 = _queries(T0 + timedelta(days=8), batch_size=2)
    # The due ids are streamed (one statement per stage, a DECLARE on PostgreSQL), then each
    # batch is loaded: stage 2 has none due, stage 1 three batches of ≤2.
    assert reads5 == 3
    for _i in range(10):
        _contacted(CustomerFactory(owner=rep), T0 + timedelta(days=1))
    total10, reads10 = _queries(T0 + timedelta(days=9), batch_size=2)
    assert reads10 == 5
    # Per reminded customer a fixed number of statements (claim UPDATE, task: check + savepoint +
    # insert + release, event insert, notification: check + savepoint + insert + release, and the
    # atomic block's savepoint pair): the same for 5 and for 10 customers.
    # Fixed per run: the rules, and the due ids of each stage (2).
    per_customer5 = (total5 - 3 - reads5) / 5
    per_customer10 = (total10 - 3 - reads10) / 10
    assert per_customer5 == per_customer10 <= 14


def test_the_jobs_queries_use_their_indexes(rep):
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on PostgreSQL")
    from interactions.escalation import CLOCK, _eligible

    for _i in range(3):
        _contacted(CustomerFactory(owner=rep), T0)
    now = T0 + timedelta(days=8)
    # (A rule for one tier may also be served by the tier's index: checked here for a rule
    # without criteria, which only the clock's index can serve.)
    stage1 = (
        _eligible()
        .filter(followup_reminded_at__isnull=True)
        .alias(followup_clock=CLOCK)
        .filter(followup_clock__lt=now - timedelta(days=7))
        .order_by("pk")[:500]
    )
    stage2 = (
        _eligible()
        .filter(
            followup_reminded_at__isnull=False,
            followup_escalated_at__isnull=True,
            followup_reminded_at__lte=now - timedelta(days=5),
        )
        .alias(followup_clock=CLOCK)
        .filter(followup_clock__lt=now - timedelta(days=12))
        .order_by("pk")[:500]
    )
    # On a table of a few rows any index ties on cost, so which one the planner takes is
    # chance; checked here: an index serves each stage (no sequential scan even when it is
    # disabled), and the stages' own indexes exist with their expression and condition. (At a
    # million customers the planner takes cust_followup_due_idx: README, Benchmarks.)
    for qs in (stage1, stage2):
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan on customers_customer" not in plan, plan
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('cust_followup_due_idx', 'cust_followup_reminded_idx')"
        )
        definitions = dict(cursor.fetchall())
    assert "COALESCE(last_contacted_at, created_at)" in definitions["cust_followup_due_idx"]
    assert "followup_reminded_at IS NULL" in definitions["cust_followup_due_idx"]
    assert "followup_reminded_at" in definitions["cust_followup_reminded_idx"]


# --- audit ---------------------------------------------------------------------------------------


def test_deleting_a_rule_in_the_admin_is_audited(client, admin_user):
    rule = _rule(name="删除我")
    client.force_login(admin_user)
    response = client.post(f"/admin/interactions/followuprule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not FollowUpRule.objects.exists()
    entry = AuditLog.objects.get(action=AuditLog.Action.DELETE)
    assert (entry.actor, entry.object_type, entry.object_repr) == (
        admin_user,
        "interactions.followuprule",
        "删除我",
    )


def test_whoever_claims_an_escalated_customer_starts_a_new_period_with_a_reminder(rep, teammate, manager):
    from customers.pool import pool_customer_claim

    _rule(return_to_pool=True)
    customer = _contacted(CustomerFactory(owner=rep), T0)
    _run(T0 + timedelta(days=8))
    _run(T0 + timedelta(days=14))
    customer.refresh_from_db()
    assert customer.owner is None and customer.followup_escalated_at is not None  # seen in the pool
    with time_machine.travel(T0 + timedelta(days=15), tick=False):
        pool_customer_claim(customer=customer, user=teammate)
    customer.refresh_from_db()
    assert (customer.followup_reminded_at, customer.followup_escalated_at) == (None, None)
    assert _run(T0 + timedelta(days=16))["reminded"] == 1
    assert Task.objects.open().get(rule=TASK_RULE).assignee == teammate


def test_a_merge_that_brings_a_later_contact_clears_the_marks(rep, admin_user):
    from customers.services import customer_merge

    survivor = _contacted(CustomerFactory(owner=rep), T0)
    Customer.objects.filter(pk=survivor.pk).update(followup_reminded_at=T0, followup_escalated_at=T0)
    merged = _contacted(CustomerFactory(owner=rep), T0 + timedelta(days=20))
    customer_merge(survivor=Customer.objects.get(pk=survivor.pk), merged=merged, choices={}, user=admin_user)
    survivor.refresh_from_db()
    assert (survivor.followup_reminded_at, survivor.followup_escalated_at) == (None, None)
