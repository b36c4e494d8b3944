import pytest

from customers.tests.factories import CustomerFactory, make_contact

pytestmark = pytest.mark.django_db


def test_admin_pages_work_and_never_show_personal_data_in_clear(client, admin_user, rep):
    customer = CustomerFactory(name="王小明", owner=rep, mobile="13812345678", email="wang@example.com")
    make_contact(customer, name="李四", phone="13900139000")
    client.force_login(admin_user)
    for url in (
        "/admin/customers/customer/",
        f"/admin/customers/customer/{customer.pk}/change/",
        f"/admin/customers/customer/{customer.pk}/history/",
        "/admin/customers/tag/",
        "/admin/customers/customermerge/",
        "/admin/core/auditlog/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "13812345678" not in body and "wang@example.com" not in body and "13900139000" not in body, url
    assert "138****5678" in client.get("/admin/customers/customer/").content.decode()


def test_the_audit_log_cannot_be_edited_or_deleted_in_the_admin(client, admin_user):
    from core.audit import audit_log
    from core.models import AuditLog

    entry = audit_log(actor=admin_user, action=AuditLog.Action.REVEAL)
    client.force_login(admin_user)
    assert client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/core/auditlog/add/").status_code == 403
    assert AuditLog.objects.filter(pk=entry.pk).exists()


def test_the_audit_log_is_append_only_in_code(admin_user):
    from core.audit import audit_log
    from core.models import AuditLog

    entry = audit_log(actor=admin_user, action=AuditLog.Action.REVEAL)
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.update(field="x")
