"""Merge two customers; delete → recycle bin → restore or purge; the nightly purge."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditLog
from customers.models import Contact, Customer, CustomerMerge
from customers.services import customers_purge_expired
from customers.tasks import purge_expired_customers
from customers.tests.factories import CustomerFactory, TagFactory, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(rep):
    keep = CustomerFactory(
        name="张伟",
        owner=rep,
        mobile="13800138000",
        city="上海",
        tags=[TagFactory(name="甲")],
        notes="老客户",
    )
    dupe = CustomerFactory(
        name="张伟（重复）",
        owner=rep,
        email="zw@example.com",
        city="北京",
        tags=[TagFactory(name="乙")],
        notes="展会认识",
    )
    make_contact(keep, name="助理A", is_primary=True)
    make_contact(dupe, name="助理B", is_primary=True)
    return keep, dupe


def test_merge_page_lets_the_user_pick_values(client, manager, pair):
    keep, dupe = pair
    client.force_login(manager)
    response = client.get(f"/customers/{keep.pk}/merge/?other={dupe.pk}")
    assert response.status_code == 200
    form = response.context["form"]
    assert {"name", "city", "email"} <= set(form.differing)
    assert form["email"].initial == "merged"  # the survivor has none: take the duplicate's
    body = response.content.decode()
    assert "zw@example.com" not in body and "z***@example.com" in body  # masked here too


def test_merge_moves_related_records_keeps_histories_and_is_recorded(client, manager, pair):
    keep, dupe = pair
    client.force_login(manager)
    response = client.post(
        f"/customers/{keep.pk}/merge/",
        {"other": dupe.pk, "name": "survivor", "city": "merged", "email": "merged", "notes": "survivor"},
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{keep.pk}/"
    keep.refresh_from_db()
    dupe.refresh_from_db()
    assert (
        keep.name == "张伟"
        and keep.city == "北京"
        and keep.email == "zw@example.com"
        and keep.mobile == "13800138000"
    )
    assert "老客户" in keep.notes and "展会认识" in keep.notes
    assert set(keep.tags.values_list("name", flat=True)) == {"甲", "乙"}
    assert set(Contact.objects.filter(customer=keep).values_list("name", flat=True)) == {"助理A", "助理B"}
    assert Contact.objects.filter(customer=keep, is_primary=True).count() == 1
    assert dupe.merged_into == keep and dupe.deleted_at is not None
    assert dupe.history.count() >= 2 and keep.history.count() >= 2  # both histories kept
    record = CustomerMerge.objects.get()
    assert record.moved == {"customers.contact": 1} and record.merged_by == manager
    assert AuditLog.objects.filter(action="merge", object_id=str(keep.pk)).exists()
    # The merged record is not in the list nor in the recycle bin; its old URL leads to the survivor.
    assert not Customer.objects.visible_to(manager).filter(pk=dupe.pk).exists()
    assert not Customer.objects.deleted().filter(pk=dupe.pk).exists()
    assert client.get(f"/customers/{dupe.pk}/")["Location"] == f"/customers/{keep.pk}/"
    # Searching by the merged-in email finds the survivor.
    assert client.get("/customers/?q=zw@example.com").context["page"].object_list == [keep]


def test_merge_requires_permission_and_visibility(client, rep, other_manager, pair):
    keep, dupe = pair
    client.force_login(rep)  # reps may not merge
    assert client.post(f"/customers/{keep.pk}/merge/", {"other": dupe.pk}).status_code == 403
    client.force_login(other_manager)  # may merge, but not these customers
    assert client.post(f"/customers/{keep.pk}/merge/", {"other": dupe.pk}).status_code == 404
    assert CustomerMerge.objects.count() == 0


def test_a_customer_cannot_be_merged_into_itself(client, manager, pair):
    keep, _ = pair
    client.force_login(manager)
    response = client.post(f"/customers/{keep.pk}/merge/", {"other": keep.pk})
    assert response.status_code == 302
    assert CustomerMerge.objects.count() == 0


def test_merge_picker_searches_visible_customers(client, manager, pair):
    keep, dupe = pair
    client.force_login(manager)
    response = client.get(f"/customers/{keep.pk}/merge/?q=张伟")
    assert response.context["candidates"] == [dupe]


# --- recycle bin -------------------------------------------------------------------------


def test_delete_asks_first_then_moves_to_the_recycle_bin_and_restore_brings_it_back(client, rep, pair):
    keep, _ = pair
    client.force_login(rep)
    assert client.get(f"/customers/{keep.pk}/delete/").status_code == 200
    keep.refresh_from_db()
    assert keep.deleted_at is None
    assert client.post(f"/customers/{keep.pk}/delete/").status_code == 302
    keep.refresh_from_db()
    assert keep.deleted_at is not None and keep.deleted_by == rep
    assert keep not in client.get("/customers/").context["page"].object_list
    assert keep in client.get("/customers/recycle-bin/").context["page"].object_list
    assert client.post(f"/customers/{keep.pk}/restore/").status_code == 302
    keep.refresh_from_db()
    assert keep.deleted_at is None
    assert keep in client.get("/customers/").context["page"].object_list
    assert list(
        AuditLog.objects.filter(object_type="customers.customer", object_id=str(keep.pk))
        .values_list("action", flat=True)
        .order_by("at")
    ) == [
        "delete",
        "restore",
    ]


def test_delete_needs_post_for_the_change_and_permission(client, service, pair):
    keep, _ = pair
    client.force_login(service)
    assert client.post(f"/customers/{keep.pk}/delete/").status_code == 403
    keep.refresh_from_db()
    assert keep.deleted_at is None


def test_restore_and_purge_need_the_record_in_the_bin_and_visible(client, rep, other_rep, admin_user, pair):
    keep, _ = pair
    client.force_login(rep)
    assert client.post(f"/customers/{keep.pk}/restore/").status_code == 404  # not deleted
    client.post(f"/customers/{keep.pk}/delete/")
    client.force_login(other_rep)
    assert client.post(f"/customers/{keep.pk}/restore/").status_code == 404
    client.force_login(rep)
    assert client.post(f"/customers/{keep.pk}/purge/").status_code == 403  # only admins purge
    client.force_login(admin_user)
    assert client.post(f"/customers/{keep.pk}/purge/").status_code == 302
    assert not Customer.objects.filter(pk=keep.pk).exists()
    assert AuditLog.objects.filter(action="purge", object_id=str(keep.pk)).exists()


def test_the_nightly_job_purges_only_expired_customers_and_is_idempotent(rep, settings):
    settings.CUSTOMER_RECYCLE_BIN_DAYS = 30
    expired = CustomerFactory(name="过期", owner=rep)
    recent = CustomerFactory(name="最近删除", owner=rep)
    alive = CustomerFactory(name="正常", owner=rep)
    now = timezone.now()
    Customer.objects.filter(pk=expired.pk).update(deleted_at=now - timedelta(days=31))
    Customer.objects.filter(pk=recent.pk).update(deleted_at=now - timedelta(days=29))
    assert purge_expired_customers.delay().get() == {"purged": 1}
    from core.models import JobRun

    run = JobRun.objects.get(name="purge_recycle_bin")
    assert run.status == "succeeded" and run.counts == {"purged": 1} and run.finished_at
    assert customers_purge_expired() == 0
    assert set(Customer.objects.values_list("name", flat=True)) == {"最近删除", "正常"}
    assert alive.history.exists() and not expired.history.exists()


def test_purge_command(rep):
    from io import StringIO

    gone = CustomerFactory(name="过期", owner=rep)
    Customer.objects.filter(pk=gone.pk).update(deleted_at=timezone.now() - timedelta(days=400))
    out = StringIO()
    call_command("purge_recycle_bin", stdout=out)
    assert "Purged 1" in out.getvalue()


def test_a_malformed_merge_target_is_404(client, manager, pair):
    keep, _ = pair
    client.force_login(manager)
    assert client.get(f"/customers/{keep.pk}/merge/?other=abc").status_code == 404
