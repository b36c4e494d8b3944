"""Customer 360° page: masking and logged reveals, completeness, verification, contacts,
change history, timeline."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditLog
from customers.models import Contact, Customer
from customers.tests.factories import CustomerFactory, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(rep):
    return CustomerFactory(
        name="王小明",
        owner=rep,
        mobile="13812345678",
        email="wang@example.com",
        street="人民路 88 号",
        province="上海市",
    )


def test_sensitive_fields_are_masked_on_the_page(client, rep, customer):
    client.force_login(rep)
    body = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "138****5678" in body and "w***@example.com" in body
    assert "13812345678" not in body and "wang@example.com" not in body and "人民路" not in body


def test_reveal_returns_one_field_and_is_logged(client, rep, customer):
    client.force_login(rep)
    response = client.post(f"/customers/{customer.pk}/reveal/mobile/", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200 and response.json() == {"value": "13812345678"}
    entry = AuditLog.objects.get(action="reveal")
    assert (entry.actor, entry.object_id, entry.field, entry.ip_address) == (
        rep,
        str(customer.pk),
        "mobile",
        "10.1.2.3",
    )
    assert "13812345678" not in repr(entry.details)


def test_reveal_needs_post_permission_and_visibility(client, rep, customer, other_rep, django_user_model):
    client.force_login(rep)
    assert client.get(f"/customers/{customer.pk}/reveal/mobile/").status_code == 405
    assert client.post(f"/customers/{customer.pk}/reveal/notes/").status_code == 400
    client.force_login(other_rep)
    assert client.post(f"/customers/{customer.pk}/reveal/mobile/").status_code == 404
    nobody = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(nobody)
    assert client.post(f"/customers/{customer.pk}/reveal/mobile/").status_code == 403
    assert not AuditLog.objects.filter(action="reveal").exists()


def test_contact_reveal_is_logged(client, rep, customer):
    contact = make_contact(customer, name="李四", phone="13900139000")
    client.force_login(rep)
    response = client.post(f"/customers/{customer.pk}/contacts/{contact.pk}/reveal/phone/")
    assert response.json() == {"value": "13900139000"}
    assert AuditLog.objects.filter(action="reveal", object_type="customers.contact", field="phone").exists()


def test_completeness_score_lists_what_is_missing(customer):
    score, missing = customer.completeness()
    assert 0 < score < 100
    assert "birthday" in missing or "生日" in missing


def test_marking_information_verified_resets_the_clock(client, rep, customer):
    Customer.objects.filter(pk=customer.pk).update(info_verified_at=timezone.now() - timedelta(days=200))
    customer.refresh_from_db()
    assert customer.is_stale()
    client.force_login(rep)
    response = client.post(f"/customers/{customer.pk}/verify/")
    assert response.status_code == 302
    customer.refresh_from_db()
    assert not customer.is_stale()
    assert customer.info_verified_at > timezone.now() - timedelta(minutes=1)


def test_customer_service_cannot_mark_verified(client, service, customer):
    client.force_login(service)
    assert client.post(f"/customers/{customer.pk}/verify/").status_code == 403


def test_detail_query_count_does_not_grow_with_contacts_and_history(client, rep, customer):
    client.force_login(rep)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/customers/{customer.pk}/")
    for i in range(5):
        make_contact(customer, name=f"联系人{i}")
        customer.notes = f"v{i}"
        customer.save()
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_change_history_shows_who_what_old_and_new_but_never_personal_data(client, rep, customer):
    client.force_login(rep)
    data = {
        "kind": "individual",
        "name": "王小明",
        "title": "总经理",
        "mobile": "13900001111",
        "email": "wang@example.com",
        "street": "人民路 88 号",
        "province": "上海市",
        "lifecycle_stage": "existing",
        "value_tier": "potential",
    }
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    body = client.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    history = body[body.index('data-testid="history"') :]
    assert "总经理" in history and "Existing customer" in history
    assert "13900001111" not in body and "13812345678" not in body
    entries = client.get(f"/customers/{customer.pk}/").context["history"]
    changed = {c.field: c for c in entries[0].changes}
    assert changed["mobile"].new != "13900001111"
    assert entries[0].user == str(rep)


def test_timeline_shows_creation_and_merges(client, rep, manager, customer):
    other = CustomerFactory(name="王小明(重复)", owner=rep)
    from customers.services import customer_merge

    customer_merge(survivor=customer, merged=other, choices={}, user=manager)
    client.force_login(rep)
    timeline = client.get(f"/customers/{customer.pk}/").context["timeline"]
    kinds = [e.icon for e in timeline]
    assert "person-plus" in kinds and "union" in kinds


# --- contacts --------------------------------------------------------------------------


def test_adding_and_editing_contacts_keeps_one_primary(client, rep, customer):
    client.force_login(rep)
    url = f"/customers/{customer.pk}/contacts/new/"
    assert client.post(url, {"name": "甲", "phone": "13900139000", "is_primary": "on"}).status_code == 302
    assert client.post(url, {"name": "乙", "email": "yi@example.com", "is_primary": "on"}).status_code == 302
    primaries = list(
        Contact.objects.filter(customer=customer, is_primary=True).values_list("name", flat=True)
    )
    assert primaries == ["乙"]
    first = Contact.objects.get(name="甲")
    assert first.phone == "13900139000" and first.phone_bidx
    response = client.post(
        f"/customers/{customer.pk}/contacts/{first.pk}/edit/", {"name": "甲二", "phone": "bad"}
    )
    assert response.status_code == 200 and "phone" in response.context["form"].errors
    first.refresh_from_db()
    assert first.name == "甲"
    client.post(f"/customers/{customer.pk}/contacts/{first.pk}/delete/")
    assert not Contact.objects.filter(pk=first.pk).exists()


def test_contacts_of_invisible_customers_are_404(client, other_rep, customer):
    contact = make_contact(customer, name="甲")
    client.force_login(other_rep)
    assert client.get(f"/customers/{customer.pk}/contacts/{contact.pk}/edit/").status_code == 404
    assert client.post(f"/customers/{customer.pk}/contacts/new/", {"name": "x"}).status_code == 404


def test_a_contact_cannot_be_edited_through_another_customer(client, rep, customer):
    mine_too = CustomerFactory(name="另一个", owner=rep)
    contact = make_contact(customer, name="甲")
    client.force_login(rep)
    assert client.get(f"/customers/{mine_too.pk}/contacts/{contact.pk}/edit/").status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required"),
        ("phone", "12345", "valid phone number"),
        ("email", "x@", "valid email"),
    ],
)
def test_bad_contact_input_is_refused_next_to_the_field(client, rep, customer, field, value, message):
    client.force_login(rep)
    data = {"name": "甲", "phone": "13900139000", "email": "a@example.com", field: value}
    response = client.post(f"/customers/{customer.pk}/contacts/new/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Contact.objects.exists()


def test_customer_service_cannot_add_contacts(client, service, customer):
    client.force_login(service)
    assert client.post(f"/customers/{customer.pk}/contacts/new/", {"name": "甲"}).status_code == 403
    assert not Contact.objects.exists()


def test_history_reasons_are_translated(client, rep, customer):
    from customers.services import customer_mark_verified

    customer_mark_verified(customer=customer, user=rep)
    client.force_login(rep)
    history = client.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="zh-CN").context["history"]
    assert [h.reason for h in history] == ["资料已核实", "创建"]
    assert history[-1].user == str(rep)


def test_tag_changes_appear_in_the_history(client, rep, customer):
    from customers.tests.factories import TagFactory

    vip, east = TagFactory(name="VIP"), TagFactory(name="华东")
    client.force_login(rep)
    data = {
        "kind": "individual",
        "name": customer.name,
        "lifecycle_stage": "prospect",
        "value_tier": "potential",
    }
    client.post(f"/customers/{customer.pk}/edit/", {**data, "tags": [vip.pk, east.pk]})
    client.post(
        "/customers/bulk/",
        {"action": "remove_tag", "tag": vip.pk, "ids": str(customer.pk), "confirmed": "on"},
    )
    history = client.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="en").context["history"]
    tag_changes = [(c.old, c.new) for h in history for c in h.changes if c.field == "tag_names"]
    assert tag_changes == [("VIP, 华东", "华东"), ("—", "VIP, 华东")]
    assert history[0].reason == "bulk tagging"


def test_renaming_a_tag_in_the_admin_updates_its_customers(
    client, admin_user, rep, django_capture_on_commit_callbacks
):
    from customers.tests.factories import TagFactory

    tag = TagFactory(name="旧名")
    tagged = CustomerFactory(name="有标签", owner=rep, tags=[tag])
    assert tagged.tag_names == "旧名"
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/customers/tag/{tag.pk}/change/", {"name": "新名", "color": "primary"})
    assert response.status_code == 302
    tagged.refresh_from_db()
    assert tagged.tag_names == "新名"
