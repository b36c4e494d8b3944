"""Who sees and edits which customer: one selector, 404 for records a user may not see."""

import pytest
from django.conf import settings

from customers.models import Customer
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(rep, teammate, other_rep, manager, other_manager, service, admin_user):
    return {
        "mine": CustomerFactory(name="我的客户", owner=rep),
        "teammates": CustomerFactory(name="同事的客户", owner=teammate),
        "other_team": CustomerFactory(name="别组的客户", owner=other_rep),
        "unowned": CustomerFactory(name="公海客户", owner=None),
    }


def _names(user) -> set[str]:
    return set(Customer.objects.visible_to(user).values_list("name", flat=True))


def test_a_rep_sees_only_their_own_customers(book, rep):
    assert _names(rep) == {"我的客户"}


def test_a_manager_sees_their_teams_customers(book, manager):
    assert _names(manager) == {"我的客户", "同事的客户"}


def test_another_teams_manager_sees_only_that_team(book, other_manager):
    assert _names(other_manager) == {"别组的客户"}


def test_customer_service_and_admin_see_everyone(book, service, admin_user):
    everyone = {"我的客户", "同事的客户", "别组的客户", "公海客户"}
    assert _names(service) == everyone
    assert _names(admin_user) == everyone


def test_a_user_without_a_role_sees_nothing(book, django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password="x")
    assert _names(nobody) == set()


def test_deleted_customers_leave_every_list(book, rep):
    book["mine"].deleted_at = book["mine"].created_at
    book["mine"].save()
    assert _names(rep) == set()


@pytest.mark.parametrize(
    ("persona", "customer", "status"),
    [
        ("rep", "mine", 200),
        ("rep", "teammates", 404),
        ("rep", "other_team", 404),
        ("rep", "unowned", 404),
        ("teammate", "mine", 404),
        ("manager", "mine", 200),
        ("manager", "teammates", 200),
        ("manager", "other_team", 404),
        ("other_manager", "mine", 404),
        ("other_rep", "mine", 404),
        ("service", "mine", 200),
        ("service", "other_team", 200),
        ("admin_user", "unowned", 200),
    ],
)
def test_detail_page_answers_404_for_customers_the_user_may_not_see(
    client, request, book, persona, customer, status
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/customers/{book[customer].pk}/").status_code == status


@pytest.mark.parametrize(
    ("persona", "customer", "status"),
    [
        ("rep", "mine", 200),
        ("rep", "teammates", 404),
        ("manager", "teammates", 200),
        ("other_manager", "mine", 404),
        ("service", "mine", 403),  # may see, may not edit basic information
        ("admin_user", "other_team", 200),
    ],
)
def test_edit_page_rights(client, request, book, persona, customer, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/customers/{book[customer].pk}/edit/").status_code == status


def test_customer_service_cannot_change_basic_information_by_post(client, book, service):
    client.force_login(service)
    response = client.post(f"/customers/{book['mine'].pk}/edit/", {"name": "改名", "kind": "individual"})
    assert response.status_code == 403
    book["mine"].refresh_from_db()
    assert book["mine"].name == "我的客户"


def test_customer_service_cannot_create_customers(client, service):
    client.force_login(service)
    assert client.get("/customers/new/").status_code == 403


def test_only_owner_changers_get_the_owner_field(client, book, rep, manager):
    client.force_login(rep)
    assert "owner" not in client.get(f"/customers/{book['mine'].pk}/edit/").context["form"].fields
    client.force_login(manager)
    assert "owner" in client.get(f"/customers/{book['mine'].pk}/edit/").context["form"].fields


def test_a_rep_cannot_hand_a_customer_to_someone_else_by_posting_owner(client, book, rep, teammate):
    client.force_login(rep)
    response = client.post(
        f"/customers/{book['mine'].pk}/edit/",
        {
            "name": "我的客户",
            "kind": "individual",
            "lifecycle_stage": "prospect",
            "value_tier": "potential",
            "owner": teammate.pk,
        },
    )
    assert response.status_code == 302
    book["mine"].refresh_from_db()
    assert book["mine"].owner == rep


def test_manager_reassigns_a_customer_and_the_team_follows_and_is_audited(
    client, book, manager, teammate, other_rep
):
    from core.models import AuditLog

    client.force_login(manager)
    response = client.post(
        f"/customers/{book['mine'].pk}/edit/",
        {
            "name": "我的客户",
            "kind": "individual",
            "lifecycle_stage": "prospect",
            "value_tier": "potential",
            "owner": other_rep.pk,
        },
    )
    assert response.status_code == 302
    book["mine"].refresh_from_db()
    assert book["mine"].owner == other_rep
    assert book["mine"].team == other_rep.team
    assert AuditLog.objects.filter(action="owner_change", object_id=str(book["mine"].pk)).exists()


def test_list_shows_only_visible_customers(client, book, rep):
    client.force_login(rep)
    body = client.get("/customers/").content.decode()
    assert "我的客户" in body and "同事的客户" not in body and "别组的客户" not in body


def test_demo_password_is_documented():
    assert settings.DEMO_PASSWORD
