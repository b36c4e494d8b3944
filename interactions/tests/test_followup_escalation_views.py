"""Follow-up escalation on the pages: the list filter and badges, the customer page, and who
may configure the rules (admins, in the Django admin)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.models import FollowUpRule

pytestmark = pytest.mark.django_db

RULE_PERMISSIONS = ("view_followuprule", "add_followuprule", "change_followuprule", "delete_followuprule")


@pytest.fixture
def marked(rep, teammate):
    """An escalated and a reminded customer of rep, one in good standing, and a teammate's
    escalated customer."""
    now = timezone.now()
    escalated = CustomerFactory(name="高风险客户", owner=rep)
    reminded = CustomerFactory(name="待跟进客户", owner=rep)
    fine = CustomerFactory(name="正常客户", owner=rep)
    theirs = CustomerFactory(name="同事的高风险客户", owner=teammate)
    Customer.objects.filter(pk__in=[escalated.pk, theirs.pk]).update(
        followup_reminded_at=now - timedelta(days=6), followup_escalated_at=now - timedelta(days=1)
    )
    Customer.objects.filter(pk=reminded.pk).update(followup_reminded_at=now - timedelta(days=2))
    return {"escalated": escalated, "reminded": reminded, "fine": fine, "theirs": theirs}


def _english(client, user):
    user.language = "en"
    user.save(update_fields=["language"])
    client.force_login(user)


def _names(response) -> set[str]:
    return {c.name for c in response.context["page"].object_list}


def test_the_list_filter_shows_overdue_or_escalated_customers_in_scope(client, rep, marked):
    _english(client, rep)
    response = client.get("/customers/?followup=escalated")
    assert _names(response) == {"高风险客户"}  # the teammate's is outside the rep's scope
    response = client.get("/customers/?followup=overdue")
    assert _names(response) == {"待跟进客户"}
    assert _names(client.get("/customers/")) == {"高风险客户", "待跟进客户", "正常客户"}
    html = client.get("/customers/").content.decode()
    assert 'name="followup"' in html
    assert "Follow-up overdue (owner reminded)" in html and "Follow-up escalated (high risk)" in html


def test_a_manager_sees_the_whole_teams_escalated_customers(client, manager, marked):
    _english(client, manager)
    assert _names(client.get("/customers/?followup=escalated")) == {"高风险客户", "同事的高风险客户"}


def test_other_teams_see_no_marked_customer(client, other_rep, other_manager, marked):
    for user in (other_rep, other_manager):
        _english(client, user)
        assert _names(client.get("/customers/?followup=escalated")) == set()
        assert client.get(f"/customers/{marked['escalated'].pk}/").status_code == 404


def test_a_bad_filter_value_is_refused_with_a_message_and_filters_nothing(client, rep, marked):
    _english(client, rep)
    response = client.get("/customers/?followup=everything")
    assert response.status_code == 200
    assert "Some filters are not valid and were ignored" in response.content.decode()


def test_the_list_shows_a_badge_per_mark(client, rep, marked):
    _english(client, rep)
    html = client.get("/customers/").content.decode()
    assert html.count('data-testid="followup-escalated"') == 1
    assert html.count('data-testid="followup-overdue"') == 1
    row = html.split("高风险客户</a>")[1].split("</td>")[0]
    assert 'data-testid="followup-escalated"' in row and "Follow-up escalated" in row


def test_the_list_query_count_does_not_grow_with_marked_customers(
    client, rep, marked, django_assert_max_num_queries
):
    _english(client, rep)
    for i in range(20):
        CustomerFactory(name=f"客户{i}", owner=rep)
    Customer.objects.filter(owner=rep).update(followup_escalated_at=timezone.now())
    # The ledger's 16 queries (customers/tests/test_list.py); the marks are columns of the page query.
    with django_assert_max_num_queries(17):  # (incl. the custom field definitions)
        response = client.get("/customers/?followup=escalated&per_page=50")
    assert len(response.context["page"].object_list) == 23  # the 20 and the fixture's three


def test_the_customer_page_shows_the_mark(client, rep, manager, service, marked):
    for user in (rep, manager, service):
        _english(client, user)
        html = client.get(f"/customers/{marked['escalated'].pk}/").content.decode()
        assert 'data-testid="followup-escalated"' in html, user
        assert "Follow-up escalated" in html
    _english(client, rep)
    html = client.get(f"/customers/{marked['reminded'].pk}/").content.decode()
    assert 'data-testid="followup-overdue"' in html and "Follow-up overdue" in html
    html = client.get(f"/customers/{marked['fine'].pk}/").content.decode()
    assert 'data-testid="followup-' not in html


# --- configuring the rules ---------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["rep", "manager", "service"])
def test_only_admins_hold_the_rule_permissions(request, persona, admin_user):
    user = request.getfixturevalue(persona)
    assert not any(user.has_perm(f"interactions.{p}") for p in RULE_PERMISSIONS)
    assert all(admin_user.has_perm(f"interactions.{p}") for p in RULE_PERMISSIONS)
    # The admin role itself (not only the superuser flag) carries them.
    assert Permission.objects.filter(group__name="admin", codename__in=RULE_PERMISSIONS).count() == 4


@pytest.mark.parametrize("persona", ["rep", "manager", "service"])
def test_staff_other_than_admins_cannot_open_or_change_the_rules(client, request, persona):
    user = request.getfixturevalue(persona)
    rule = FollowUpRule.objects.create(name="7 天")
    client.force_login(user)
    for path in (
        "/admin/interactions/followuprule/",
        "/admin/interactions/followuprule/add/",
        f"/admin/interactions/followuprule/{rule.pk}/change/",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), path
    client.post("/admin/interactions/followuprule/add/", {"name": "偷偷加的", "remind_after_days": 1})
    client.post(f"/admin/interactions/followuprule/{rule.pk}/delete/", {"post": "yes"})
    assert list(FollowUpRule.objects.values_list("name", flat=True)) == ["7 天"]


def test_an_admin_configures_rules_and_bad_input_changes_nothing(client, admin_user, team):
    _english(client, admin_user)
    assert client.get("/admin/interactions/followuprule/").status_code == 200
    assert client.get("/admin/interactions/followupevent/").status_code == 200
    form = {
        "name": "VIP 7 天",
        "active": "on",
        "value_tier": "vip",
        "lifecycle_stage": "",
        "team": str(team.pk),
        "remind_after_days": "7",
        "escalate_after_days": "3",
        "return_to_pool": "on",
    }
    response = client.post("/admin/interactions/followuprule/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = FollowUpRule.objects.get()
    assert (
        rule.value_tier,
        rule.team,
        rule.remind_after_days,
        rule.escalate_after_days,
        rule.return_to_pool,
    ) == (
        "vip",
        team,
        7,
        3,
        True,
    )
    # Zero days, and a second active rule for the same customers: refused, nothing saved.
    response = client.post(
        "/admin/interactions/followuprule/add/", {**form, "name": "零", "remind_after_days": "0"}
    )
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    response = client.post("/admin/interactions/followuprule/add/", {**form, "name": "重复"})
    assert response.status_code == 200
    assert "already applies to the same customers" in response.content.decode()
    assert FollowUpRule.objects.count() == 1


def test_events_are_read_only_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/interactions/followupevent/add/").status_code == 403
