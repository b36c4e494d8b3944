"""Sales automation: the follow-up task of a stage, reminders for quiet opportunities (also
through a real Celery worker), and round-robin assignment of new leads."""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connections
from django.utils import timezone

from core.models import Notification, Role
from core.tests.factories import TeamFactory, UserFactory
from crm.celery import app
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.models import Task
from interactions.tests.factories import make_interaction
from sales import services
from sales.models import LeadAssignmentRule, Opportunity, StaleOpportunityRule
from sales.tasks import run_sales_automation
from sales.tests.factories import ensure_default_pipeline, make_opportunity

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def stages(db):
    return ensure_default_pipeline()


@pytest.fixture
def customer(rep):
    return CustomerFactory(name="王小明", owner=rep)


def _tasks(rule: str):
    return Task.objects.filter(rule=rule).order_by("pk")


# --- stage entered: follow-up task -------------------------------------------------------------


def test_entering_a_stage_with_follow_up_days_creates_one_task_for_the_owner(manager, rep, customer, stages):
    proposal = stages["Proposal"]  # follow-up after 3 days
    with time_machine.travel(T0, tick=False) as traveller:
        opportunity = make_opportunity(customer, manager, title="年度采购")
        traveller.shift(timedelta(days=1))
        services.opportunity_move(opportunity=opportunity, stage=proposal, user=manager)
    task = _tasks(f"stage_entered:{proposal.pk}").get()
    assert task.assignee == rep  # the owner, not whoever moved it
    assert task.origin == Task.Origin.AUTOMATIC
    assert task.due_at == T0 + timedelta(days=1 + 3)
    assert (task.customer, task.subject) == (customer, opportunity)
    assert task.title == "跟进报价反馈 · 年度采购"
    # Creating the opportunity entered the first stage, which has its own follow-up.
    assert _tasks(f"stage_entered:{stages['Qualification'].pk}").get().due_at == T0 + timedelta(days=3)


def test_the_same_move_again_creates_nothing(rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    services.opportunity_move(opportunity=opportunity, stage=stages["Proposal"], user=rep)
    services.opportunity_move(opportunity=opportunity, stage=stages["Proposal"], user=rep)
    assert _tasks(f"stage_entered:{stages['Proposal'].pk}").count() == 1


def test_each_entry_into_a_stage_makes_its_own_task(rep, customer, stages):
    opportunity = make_opportunity(customer, rep)
    for stage in ("Proposal", "Negotiation", "Proposal"):
        services.opportunity_move(opportunity=opportunity, stage=stages[stage], user=rep)
    assert _tasks(f"stage_entered:{stages['Proposal'].pk}").count() == 2
    assert _tasks(f"stage_entered:{stages['Negotiation'].pk}").count() == 1


def test_stages_without_follow_up_days_and_closed_stages_create_nothing(rep, customer, stages):
    stages["Needs analysis"].follow_up_days = None
    stages["Needs analysis"].save()
    stages["Won"].follow_up_days = 2  # even if an admin sets days on a closed stage
    stages["Won"].save()
    first = make_opportunity(customer, rep)
    second = make_opportunity(customer, rep, title="第二单")
    before = Task.objects.count()
    services.opportunity_move(opportunity=first, stage=stages["Needs analysis"], user=rep)
    services.opportunity_move(opportunity=first, stage=stages["Won"], user=rep)
    services.opportunity_move(opportunity=second, stage=stages["Lost"], user=rep, lost_reason="预算取消")
    assert Task.objects.count() == before


def test_the_default_follow_up_title_names_the_opportunity_once(rep, customer, stages):
    stages["Proposal"].follow_up_title = ""
    stages["Proposal"].save()
    opportunity = make_opportunity(customer, rep, title="年度采购")
    services.opportunity_move(opportunity=opportunity, stage=stages["Proposal"], user=rep)
    task = _tasks(f"stage_entered:{stages['Proposal'].pk}").get()
    assert task.title.count("年度采购") == 1, task.title


# --- stale opportunities -----------------------------------------------------------------------


@pytest.fixture
def stale_rule(db):
    """The only active rule (the migration's default one is replaced by a known one)."""
    StaleOpportunityRule.objects.all().delete()
    return StaleOpportunityRule.objects.create(
        name="14 天无进展", days=14, task_title="商机没有进展", due_in_days=1
    )


def _reminders(rule):
    return _tasks(f"stale_opportunity:{rule.pk}")


def test_a_quiet_open_opportunity_gets_one_reminder(rep, customer, stages, stale_rule):
    with time_machine.travel(T0, tick=False) as traveller:
        opportunity = make_opportunity(customer, rep, title="年度采购")
        traveller.shift(timedelta(days=14) - timedelta(minutes=1))
        assert services.stale_opportunity_reminders() == 0
        traveller.shift(timedelta(minutes=2))
        assert services.stale_opportunity_reminders() == 1
        assert services.stale_opportunity_reminders() == 0  # the same quiet spell: once
        traveller.shift(timedelta(days=3))
        assert services.stale_opportunity_reminders() == 0
    task = _reminders(stale_rule).get()
    assert (task.assignee, task.customer, task.subject, task.origin) == (
        rep,
        customer,
        opportunity,
        "automatic",
    )
    assert task.title == "商机没有进展 · 年度采购"
    assert task.due_at == T0 + timedelta(days=14, minutes=1) + timedelta(days=1)


def test_a_recent_interaction_with_the_customer_prevents_the_reminder(rep, customer, stages, stale_rule):
    other = CustomerFactory(name="李雷", owner=rep)
    with time_machine.travel(T0, tick=False) as traveller:
        make_opportunity(customer, rep)
        traveller.shift(timedelta(days=10))
        make_interaction(customer, rep)
        make_interaction(other, rep)  # another customer's call does not count
        traveller.shift(timedelta(days=5))
        assert services.stale_opportunity_reminders() == 0
        traveller.shift(timedelta(days=9, minutes=1))  # 14 days after the call
        assert services.stale_opportunity_reminders() == 1


def test_new_activity_then_a_new_quiet_spell_makes_a_second_reminder(rep, customer, stages, stale_rule):
    with time_machine.travel(T0, tick=False) as traveller:
        opportunity = make_opportunity(customer, rep)
        traveller.shift(timedelta(days=15))
        assert services.stale_opportunity_reminders() == 1
        traveller.shift(timedelta(days=1))
        make_interaction(customer, rep)
        assert services.stale_opportunity_reminders() == 0
        traveller.shift(timedelta(days=15))
        assert services.stale_opportunity_reminders() == 1
        # An edit starts a new quiet spell too (had it not, this spell's reminder exists).
        traveller.shift(timedelta(days=1))
        services.opportunity_update(opportunity=opportunity, user=rep, data={"next_step": "约见"})
        traveller.shift(timedelta(days=15))
        assert services.stale_opportunity_reminders() == 1
        # And so does a stage move.
        traveller.shift(timedelta(days=1))
        services.opportunity_move(opportunity=opportunity, stage=stages["Proposal"], user=rep)
        traveller.shift(timedelta(days=13))
        assert services.stale_opportunity_reminders() == 0
        traveller.shift(timedelta(days=2))
        assert services.stale_opportunity_reminders() == 1
        assert services.stale_opportunity_reminders() == 0
    assert _reminders(stale_rule).count() == 4


def test_closed_opportunities_and_inactive_rules_are_ignored(rep, customer, stages, stale_rule):
    with time_machine.travel(T0, tick=False) as traveller:
        won = make_opportunity(customer, rep)
        services.opportunity_move(opportunity=won, stage=stages["Won"], user=rep)
        lost = make_opportunity(customer, rep, title="第二单")
        services.opportunity_move(opportunity=lost, stage=stages["Lost"], user=rep, lost_reason="预算取消")
        make_opportunity(customer, rep, title="还在谈")
        traveller.shift(timedelta(days=30))
        StaleOpportunityRule.objects.update(active=False)
        assert services.stale_opportunity_reminders() == 0
        StaleOpportunityRule.objects.update(active=True)
        assert services.stale_opportunity_reminders() == 1  # only the open one
    assert _reminders(stale_rule).get().subject.title == "还在谈"


@pytest.fixture
def real_worker():
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://")
    old = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=broker, result_backend=broker)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app
    app.conf.update(old)


@pytest.mark.django_db(transaction=True)
def test_the_automation_job_run_twice_through_a_real_worker_reminds_once(real_worker, rep, stale_rule):
    ensure_default_pipeline()  # a transactional test starts from emptied tables
    customer = CustomerFactory(name="王小明", owner=rep)
    opportunity = make_opportunity(customer, rep)
    Opportunity.objects.filter(pk=opportunity.pk).update(last_activity_at=timezone.now() - timedelta(days=15))
    first = run_sales_automation.delay().get(timeout=30)
    second = run_sales_automation.delay().get(timeout=30)
    assert first == {"stale_opportunity_tasks": 1, "leads_assigned": 0}
    assert second == {"stale_opportunity_tasks": 0, "leads_assigned": 0}
    assert _reminders(stale_rule).get().assignee == rep


def test_the_automation_job_is_in_the_beat_schedule():
    assert settings.CELERY_BEAT_SCHEDULE["sales-automation"]["task"] == "sales.tasks.run_sales_automation"


# --- lead assignment ---------------------------------------------------------------------------


def _rep(team, username):
    return UserFactory(username=username, role=Role.SALES_REP, team=team)


@pytest.fixture
def reps(team):
    return [_rep(team, f"east{i}") for i in range(3)]


@pytest.fixture
def bystanders(team, other_team):
    """People who must never get a lead from the team's rule."""
    gone = _rep(team, "gone")
    gone.is_active = False
    gone.save()
    boss = UserFactory(username="boss", role=Role.SALES_MANAGER, team=team)
    north = _rep(other_team, "north")
    return [gone, boss, north]


def _leads(n, **data) -> list[Customer]:
    return [CustomerFactory(name=f"线索 {i}", owner=None, **data) for i in range(n)]


def _owners(customers) -> list[str]:
    return [
        c.owner.username if c.owner else None
        for c in Customer.objects.filter(pk__in=[c.pk for c in customers]).order_by("pk")
    ]


def test_new_leads_go_round_the_teams_active_reps_in_turn(
    team, reps, bystanders, django_capture_on_commit_callbacks
):
    LeadAssignmentRule.objects.create(name="华东", team=team)
    with django_capture_on_commit_callbacks(execute=True):
        leads = _leads(9)
    assert _owners(leads) == ["east0", "east1", "east2"] * 3
    assert Counter(_owners(leads)) == {"east0": 3, "east1": 3, "east2": 3}
    assert set(Customer.objects.filter(pk__in=[c.pk for c in leads]).values_list("team", flat=True)) == {
        team.pk
    }
    for person in bystanders:
        assert not Customer.objects.filter(owner=person).exists()
        assert not Notification.objects.filter(recipient=person, kind="lead_assigned").exists()


def test_the_assignee_is_notified(team, reps, django_capture_on_commit_callbacks):
    LeadAssignmentRule.objects.create(name="华东", team=team)
    with django_capture_on_commit_callbacks(execute=True):
        (lead,) = _leads(1)
    notification = Notification.objects.get(kind="lead_assigned")
    assert notification.recipient == reps[0]
    assert lead.name in notification.title
    assert notification.url == f"/customers/{lead.pk}/"


def test_a_region_rule_takes_its_region_and_a_later_catch_all_takes_the_rest(
    team, other_team, reps, django_capture_on_commit_callbacks
):
    north = _rep(other_team, "north")
    south = _rep(TeamFactory(name="华南销售部"), "south")
    LeadAssignmentRule.objects.create(name="华北", order=1, region="华北", team=other_team)
    LeadAssignmentRule.objects.create(name="广东", order=2, region="广东省", team=south.team)
    LeadAssignmentRule.objects.create(name="其余", order=3, team=team)
    with django_capture_on_commit_callbacks(execute=True):
        by_region = CustomerFactory(name="北方客户", owner=None, region="华北")
        by_province = CustomerFactory(name="广州客户", owner=None, province="广东省", region="")
        elsewhere = CustomerFactory(name="上海客户", owner=None, region="华东", province="上海市")
        nowhere = CustomerFactory(name="没填地区", owner=None)
    assert _owners([by_region, by_province, elsewhere, nowhere]) == ["north", "south", "east0", "east1"]
    assert north.owned_customers.count() == 1


def test_a_rule_whose_team_has_no_active_rep_passes_the_lead_on(
    team, other_team, reps, django_capture_on_commit_callbacks
):
    LeadAssignmentRule.objects.create(name="空团队", order=1, team=other_team)
    LeadAssignmentRule.objects.create(name="停用", order=2, team=TeamFactory(name="别的"), active=False)
    LeadAssignmentRule.objects.create(name="华东", order=3, team=team)
    with django_capture_on_commit_callbacks(execute=True):
        leads = _leads(2)
    assert _owners(leads) == ["east0", "east1"]


def test_customers_with_an_owner_or_past_prospect_are_not_leads(
    rep, team, reps, django_capture_on_commit_callbacks
):
    rule = LeadAssignmentRule.objects.create(name="华东", team=team)
    with django_capture_on_commit_callbacks(execute=True):
        owned = CustomerFactory(name="已有负责人", owner=rep)
        buyer = CustomerFactory(name="老客户", owner=None, lifecycle_stage=Customer.LifecycleStage.EXISTING)
    assert services.lead_assign(customer=owned) is None
    assert services.lead_assign(customer=buyer) is None
    assert _owners([owned, buyer]) == ["rep", None]
    rule.refresh_from_db()
    assert rule.last_assignee is None
    assert not Notification.objects.filter(kind="lead_assigned").exists()


def test_a_backlog_of_unowned_prospects_is_assigned(team, reps, django_capture_on_commit_callbacks):
    # Made before any rule existed (on_commit callbacks are not run here): nobody got them.
    backlog = _leads(4)
    old = CustomerFactory(name="很久以前", owner=None)
    Customer.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    LeadAssignmentRule.objects.create(name="华东", team=team)
    with django_capture_on_commit_callbacks(execute=True):
        assigned = services.leads_assign_unowned(since=timezone.now() - timedelta(days=1))
    assert assigned == 4
    assert _owners(backlog) == ["east0", "east1", "east2", "east0"]
    assert _owners([old]) == [None]
    assert Notification.objects.filter(kind="lead_assigned").count() == 4
    assert services.leads_assign_unowned(since=timezone.now() - timedelta(days=1)) == 0


@pytest.mark.parametrize("repetition", range(3))
@pytest.mark.django_db(transaction=True)
def test_leads_arriving_at_the_same_moment_still_alternate(rep, teammate, team, repetition):
    """Four leads created at once by four connections: the locked rule hands them out in turn."""
    LeadAssignmentRule.objects.create(name="华东", team=team)
    barrier = threading.Barrier(4, timeout=20)
    errors = []

    def create_lead(n):
        try:
            barrier.wait()
            CustomerFactory(name=f"并发线索 {n}", owner=None)  # assigned on commit (eager task)
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create_lead, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    owners = Counter(
        Customer.objects.filter(name__startswith="并发线索").values_list("owner__username", flat=True)
    )
    assert owners == {"rep": 2, "teammate": 2}


def test_closing_an_opportunity_cancels_its_open_automatic_follow_ups(manager, rep):
    from interactions.models import Task
    from sales.models import PipelineStage
    from sales.tests.factories import ensure_default_pipeline, make_opportunity

    ensure_default_pipeline()
    customer = CustomerFactory(name="某公司", owner=rep)
    opportunity = make_opportunity(customer, rep)
    assert Task.objects.filter(origin="automatic", status="open").count() == 1
    won = PipelineStage.objects.get(kind="won")
    services.opportunity_move(opportunity=opportunity, stage=won, user=rep)
    assert not Task.objects.filter(status="open").exists()
    assert Task.objects.get().status == "cancelled"
