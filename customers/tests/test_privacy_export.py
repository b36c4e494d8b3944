"""Access request export: every section with the customer's data, as .xlsx (opens with openpyxl,
headers in the user's language, cells neutralised) and as JSON; nothing of another customer;
recorded as a privacy request and in the audit log. And who may use the privacy pages."""

import io
import json

import pytest
from openpyxl import load_workbook

from core.models import AuditLog, Role
from core.tests.factories import UserFactory
from customers.models import PrivacyRequest
from customers.services import consent_record_change
from customers.tests.factories import CustomerFactory, make_contact
from interactions.services import ticket_comment
from interactions.tests.factories import make_interaction, make_task, make_ticket
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

pytestmark = pytest.mark.django_db

SECTIONS = {
    "profile",
    "contacts",
    "consent",
    "tier_changes",
    "merges",
    "pool_events",
    "history",
    "audit_log",
    "privacy_requests",
    "interactions",
    "tasks",
    "tickets",
    "ticket_comments",
    "ticket_status_changes",
    "orders",
    "order_lines",
    "opportunities",
    "opportunity_stage_changes",
    "marketing_messages",
    "marketing_lists",
}


def _records(customer, user, tag: str):
    make_contact(customer, name=f"{tag}联系人", phone="13698765432" if tag == "甲" else "13698760000")
    consent_record_change(customer=customer, granted=True, source="phone", user=user, note=f"{tag}同意")
    make_interaction(customer, user, summary=f"{tag}通话", details=f"{tag}详情")
    make_task(user, customer, title=f"{tag}回电")
    ticket = make_ticket(customer, user, subject=f"{tag}投诉")
    ticket_comment(ticket=ticket, user=user, body=f"{tag}评论", internal=False)
    make_order(customer, user, notes=f"{tag}订单备注")
    make_opportunity(customer, user, title=f"{tag}商机")


@pytest.fixture
def customers(rep, admin_user):
    ensure_default_pipeline()
    mine = CustomerFactory(
        name="甲客户", owner=rep, mobile="13912345678", email="jia@example.com", notes='=HYPERLINK("x")'
    )
    other = CustomerFactory(name="乙客户", owner=rep, mobile="13900000000", email="yi@example.com")
    _records(mine, rep, "甲")
    _records(other, rep, "乙")
    from customers.services import customer_update

    customer_update(customer=mine, user=rep, data={"value_tier": "vip"})
    from core.audit import audit_log

    audit_log(actor=rep, action=AuditLog.Action.REVEAL, obj=mine, field="mobile")
    return mine, other


def _post(client, customer, fmt="xlsx", **data):
    return client.post(
        f"/customers/{customer.pk}/privacy/export/",
        {"format": fmt, "reason": "客户要求", "reference": "R-9", **data},
    )


def test_json_export_has_every_section_with_the_customers_data_and_nothing_else(
    client, admin_user, customers
):
    mine, other = customers
    client.force_login(admin_user)
    response = _post(client, mine, "json")
    assert response.status_code == 200
    assert (
        response["Content-Disposition"].startswith("attachment;") and response["Cache-Control"] == "no-store"
    )
    document = json.loads(b"".join(response.streaming_content) if response.streaming else response.content)
    assert document["customer"] == mine.pk
    assert set(document["sections"]) == SECTIONS
    sections = document["sections"]
    profile = {row["field"]: row["value"] for row in sections["profile"]["rows"]}
    assert (profile["name"], profile["mobile"], profile["email"]) == (
        "甲客户",
        "13912345678",
        "jia@example.com",
    )
    for key in ("contacts", "consent", "tier_changes", "history", "audit_log", "interactions", "tasks"):
        assert sections[key]["rows"], key
    for key in ("tickets", "ticket_comments", "orders", "order_lines", "opportunities"):
        assert sections[key]["rows"], key
    assert sections["contacts"]["rows"][0]["phone"] == "13698765432"
    assert sections["interactions"]["rows"][0]["details"] == "甲详情"
    assert sections["ticket_comments"]["rows"][0]["body"] == "甲评论"
    assert sections["orders"]["rows"][0]["notes"] == "甲订单备注"
    assert any(row["action"] for row in sections["audit_log"]["rows"])
    text = json.dumps(document, ensure_ascii=False)
    for foreign in ("乙", "13900000000", "yi@example.com", "13698760000"):
        assert foreign not in text


def test_xlsx_export_opens_with_a_sheet_per_kind_translated_headers_and_neutralised_cells(
    client, admin_user, customers
):
    mine, _other = customers
    admin_user.language = "zh-hans"
    admin_user.save()
    client.force_login(admin_user)
    response = _post(client, mine, "xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert len(workbook.sheetnames) == len(SECTIONS)
    assert {"联系人", "跟进", "工单", "订单"} <= set(workbook.sheetnames)
    cells = [
        cell for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row
    ]
    assert "甲客户" in cells and "13912345678" in cells
    # A value that would run as a formula is neutralised.
    assert not any(isinstance(c, str) and c.startswith("=") for c in cells)
    assert any(isinstance(c, str) and "HYPERLINK" in c for c in cells)
    assert not any(isinstance(c, str) and "乙" in c for c in cells)


def test_export_is_recorded_as_a_privacy_request_and_in_the_audit_log(client, admin_user, customers):
    mine, _other = customers
    client.force_login(admin_user)
    _post(client, mine, "json")
    request = PrivacyRequest.objects.get()
    assert (request.kind, request.customer, request.requested_by, request.reason, request.reference) == (
        "access",
        mine,
        admin_user,
        "客户要求",
        "R-9",
    )
    assert request.summary["rows"]["interactions"] == 1
    entry = AuditLog.objects.get(action=AuditLog.Action.PRIVACY_EXPORT)
    assert (entry.actor, entry.object_id, entry.details["format"]) == (admin_user, str(mine.pk), "json")
    assert "13912345678" not in json.dumps(entry.details)


# --- who may ---------------------------------------------------------------------------------


@pytest.fixture
def handler(team):
    """A rep who was given the permission by hand (a data-protection officer, say)."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="dpo", role=Role.SALES_REP, team=team)
    user.user_permissions.add(Permission.objects.get(codename="handle_privacy_requests"))
    return user


@pytest.mark.parametrize("url", ["privacy/export/", "privacy/erase/"])
def test_privacy_posts_answer_404_outside_scope_403_without_permission_login_when_anonymous(
    client, customers, rep, other_rep, manager, url
):
    mine, _other = customers
    path = f"/customers/{mine.pk}/{url}"
    response = client.post(path, {"format": "json"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(other_rep)
    assert client.post(path, {"format": "json"}).status_code == 404
    for user in (rep, manager):
        client.force_login(user)
        assert client.post(path, {"format": "json"}).status_code == 403
    assert not PrivacyRequest.objects.exists()


def test_a_user_given_the_permission_handles_requests_within_their_scope(client, handler, customers, rep):
    mine, _other = customers
    client.force_login(handler)
    # dpo's scope is their own customers: rep's customer stays out of reach.
    assert client.get(f"/customers/{mine.pk}/privacy/").status_code == 404
    own = CustomerFactory(name="丙客户", owner=handler)
    assert client.get(f"/customers/{own.pk}/privacy/").status_code == 200
    assert _post(client, own, "json").status_code == 200


def test_privacy_page_lists_requests_and_says_erasure_is_irreversible(client, admin_user, customers):
    mine, _other = customers
    client.force_login(admin_user)
    _post(client, mine, "json")
    page = client.get(f"/customers/{mine.pk}/privacy/").content.decode()
    assert "This cannot be undone." in page or "无法撤销" in page
    assert "R-9" in page
    detail = client.get(f"/customers/{mine.pk}/").content.decode()
    assert f"/customers/{mine.pk}/privacy/" in detail


def test_erasure_through_the_page_needs_the_number_a_reason_and_the_tick(client, admin_user, customers):
    mine, _other = customers
    client.force_login(admin_user)
    path = f"/customers/{mine.pk}/privacy/erase/"
    wrong = client.post(path, {"confirm_number": str(mine.pk + 1), "reason": "要求", "acknowledge": "on"})
    assert wrong.status_code == 400
    unticked = client.post(path, {"confirm_number": str(mine.pk), "reason": "要求"})
    assert unticked.status_code == 400
    mine.refresh_from_db()
    assert not mine.is_anonymised
    assert client.get(path).status_code == 405
    done = client.post(
        path, {"confirm_number": str(mine.pk), "reason": "要求", "reference": "L-1", "acknowledge": "on"}
    )
    assert done.status_code == 302
    mine.refresh_from_db()
    assert mine.is_anonymised and mine.name == ""
    assert PrivacyRequest.objects.get(kind="erasure").reference == "L-1"
    # Again: nothing more happens.
    client.post(path, {"confirm_number": str(mine.pk), "reason": "要求", "acknowledge": "on"})
    assert PrivacyRequest.objects.filter(kind="erasure").count() == 1
