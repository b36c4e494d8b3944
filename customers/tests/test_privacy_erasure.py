"""Erasure (anonymisation) of one customer: no personal data is left anywhere in the database,
while orders, amounts and figures stay.

The proof is brute force: after the erasure every text, character, array and JSON column of
every table of the database (found through information_schema, so a table added later is
searched too) is searched for every value erased and for its blind-index and pinyin forms.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from core.audit import audit_log
from core.models import AuditLog, ExportJob, ImportIssue, ImportItem, ImportJob, Notification
from customers.models import ConsentRecord, Contact, Customer, PrivacyRequest
from customers.privacy import AlreadyAnonymised, customer_erase
from customers.search import _pinyin_forms, email_bidx, phone_bidx
from customers.services import consent_record_change, customer_update
from customers.tests.factories import CustomerFactory, make_contact
from interactions.models import Article, Interaction, Task, Ticket, TicketComment
from interactions.services import ticket_comment
from interactions.tests.factories import make_interaction, make_task, make_ticket
from sales.models import Opportunity
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

pytestmark = pytest.mark.django_db

OLD_NAME = "欧阳旧名字号"
NAME = "欧阳觅雪儿"
COMPANY = "雪域隐私测试公司"
TITLE = "首席保密官甲"
MOBILE = "13912345678"
OTHER_PHONE = "+861088886666"
EMAIL = "ouyang.mixue@privacy-test.example"
WECHAT = "wx_mixue_8848"
STREET = "隐秘路七十七号"
NOTES = "周三下午联系XQZNOTES"
PREFERENCES = "只接受短信XQZPREFS"
CONTACT_NAME = "司马隐名者"
CONTACT_PHONE = "13698765432"
CONTACT_EMAIL = "sima.yinming@privacy-test.example"
CONTACT_WECHAT = "wx_sima_7777"
FREE_TEXT = [
    "INTERACTION-DETAILS-QQ1",
    "INTERACTION-OUTCOME-QQ2",
    "INTERACTION-NEXT-QQ3",
    "TICKET-DESCRIPTION-TT1",
    "TICKET-COMMENT-TT2",
    "TASK-NOTES-KK1",
    "ORDER-NOTES-OO1",
    "OPPORTUNITY-NEEDS-OO2",
    "CONSENT-NOTE-CC1",
]
PERSONAL = [OLD_NAME, NAME, COMPANY, TITLE, MOBILE, OTHER_PHONE, EMAIL, WECHAT, STREET, NOTES, PREFERENCES]
CONTACT = [CONTACT_NAME, CONTACT_PHONE, CONTACT_EMAIL, CONTACT_WECHAT]


def _derived_forms() -> list[str]:
    """Blind indexes and pinyin forms (full and initials) of what is erased."""
    forms = [
        phone_bidx(MOBILE),
        phone_bidx(OTHER_PHONE),
        email_bidx(EMAIL),
        phone_bidx(CONTACT_PHONE),
        email_bidx(CONTACT_EMAIL),
    ]
    for text in (OLD_NAME, NAME, COMPANY, CONTACT_NAME):
        forms.extend(_pinyin_forms(text.lower()))
    assert all(len(f) >= 5 for f in forms), forms  # long enough never to match by chance
    return forms


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY'))
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def find_anywhere(values: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for every column holding any of `values`, cast to text."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(
                f'SELECT v FROM unnest(%s::text[]) AS v WHERE EXISTS (SELECT 1 FROM "{table}" '
                f'WHERE strpos("{column}"::text, v) > 0)',
                [values],
            )
            hits += [(table, column, row[0]) for row in cursor.fetchall()]
    return hits


@pytest.fixture
def person(rep, manager):
    """A customer with a distinctive value in every personal field and records everywhere."""
    ensure_default_pipeline()
    customer = CustomerFactory(
        name=OLD_NAME,
        owner=rep,
        kind=Customer.Kind.INDIVIDUAL,
        company=COMPANY,
        title=TITLE,
        mobile=MOBILE,
        other_phone=OTHER_PHONE,
        email=EMAIL,
        wechat=WECHAT,
        street=STREET,
        district="隐区",
        province="上海市",
        city="上海市",
        birthday=date(1990, 3, 14),
        notes=NOTES,
        preferences=PREFERENCES,
        marketing_consent=True,
        marketing_consent_channel="paper",
    )
    # A change, so the history holds an earlier name.
    customer_update(customer=customer, user=rep, data={"name": NAME})
    contact = make_contact(
        customer, name=CONTACT_NAME, phone=CONTACT_PHONE, email=CONTACT_EMAIL, wechat=CONTACT_WECHAT
    )
    consent_record_change(customer=customer, granted=True, source="phone", user=rep, note=FREE_TEXT[8])
    make_interaction(
        customer,
        rep,
        summary=f"和{NAME}通话",
        details=f"{FREE_TEXT[0]} 住在{STREET}",
        outcome=FREE_TEXT[1],
        next_step=FREE_TEXT[2],
        contact=contact,
    )
    task = make_task(rep, customer, title=f"给{NAME}回电", notes=FREE_TEXT[5])
    ticket = make_ticket(
        customer, rep, subject=f"{NAME}的投诉", description=f"{FREE_TEXT[3]} {MOBILE}", assignee=manager
    )
    ticket_comment(ticket=ticket, user=rep, body=FREE_TEXT[4], internal=True)
    order = make_order(customer, rep, notes=FREE_TEXT[6])
    make_opportunity(customer, rep, title=f"{NAME}采购", needs=FREE_TEXT[7])
    Article.objects.create(title=f"如何处理{NAME}的投诉", body=f"回电 {MOBILE}，查物流", source_ticket=ticket)
    Notification.objects.create(
        recipient=rep, kind="test", title=f"提醒：{task.title}", body=f"{NAME} {EMAIL}"
    )
    audit_log(actor=rep, action=AuditLog.Action.REVEAL, obj=customer, field="mobile")
    audit_log(actor=rep, action=AuditLog.Action.REVEAL, obj=contact, field="phone")
    LogEntry.objects.create(
        user_id=rep.pk,
        content_type_id=ContentType.objects.get_for_model(Customer).pk,
        object_id=str(customer.pk),
        object_repr=NAME,
        action_flag=CHANGE,
        change_message=f'[{{"changed": {{"fields": ["{NAME}"]}}}}]',
    )
    # An import that created the customer: its file, undo item and row problems hold raw values.
    job = ImportJob(kind="customers", created_by=rep, original_name="list.csv", status=ImportJob.Status.DONE)
    job.file.save("list.csv", ContentFile(f"姓名,手机\n{NAME},{MOBILE}\n".encode()), save=False)
    job.error_report.save("errors.xlsx", ContentFile(b"x"), save=False)
    job.save()
    ImportItem.objects.create(job=job, row_number=2, object_id=customer.pk, action="created", after=MOBILE)
    ImportIssue.objects.create(job=job, row_number=3, value=MOBILE, message="duplicate", outcome="skipped")
    export = ExportJob.objects.create(
        kind="customers", created_by=manager, format="csv", status=ExportJob.Status.DONE
    )
    export.file.save("e.csv", ContentFile(f"{NAME},{MOBILE}\n".encode()))
    customer.refresh_from_db()
    return customer, order, job, export


@pytest.fixture
def bystander(rep):
    """Another customer: nothing of theirs may change."""
    other = CustomerFactory(name="张三丰", owner=rep, mobile="13812345678", email="zhang@example.com")
    make_contact(other, name="李四", phone="13900001111")
    make_interaction(other, rep, summary="张三丰来电", details="要报价")
    return other


def test_the_person_is_findable_before_the_erasure(person):
    # The search works: every value (in clear or derived) is found somewhere before.
    found = {value for _t, _c, value in find_anywhere(PERSONAL + CONTACT + FREE_TEXT + _derived_forms())}
    # Phones, emails, WeChat and street are stored encrypted, so only their derived forms show.
    assert {NAME, OLD_NAME, COMPANY, TITLE, NOTES, CONTACT_NAME, *FREE_TEXT} <= found
    # The search columns are not in the history: the old name's pinyin went with the rename.
    assert set(_derived_forms()) - set(_pinyin_forms(OLD_NAME)) <= found


def test_erasure_leaves_no_personal_data_in_any_column_of_any_table(person, bystander, admin_user):
    customer, order, job, export = person
    customer_erase(customer=customer, user=admin_user, reason="客户要求删除", reference="REQ-1")

    assert find_anywhere(PERSONAL + CONTACT + FREE_TEXT + _derived_forms()) == []

    # Encrypted columns hold no ciphertext of the person either: they are emptied or gone.
    customer.refresh_from_db()
    for field in Customer.SENSITIVE_FIELDS:
        assert getattr(customer, field) == ""
    assert (customer.name, customer.company, customer.birthday, customer.district) == ("", "", None, "")
    assert (customer.mobile_bidx, customer.email_bidx, customer.search_text, customer.search_grams) == (
        "",
        "",
        "",
        [],
    )
    assert not Contact.objects.filter(customer=customer).exists()
    assert not ImportItem.objects.filter(object_id=customer.pk).exists()
    assert not ImportIssue.objects.filter(job=job).exists()
    job.refresh_from_db()
    assert not job.file and not job.error_report
    assert not ExportJob.objects.filter(pk=export.pk).exists()
    history = list(Customer.history.filter(id=customer.pk))
    assert [h.history_change_reason for h in history] == ["anonymised"]
    assert all(getattr(history[0], f) == "" for f in Customer.SENSITIVE_FIELDS)


def test_erasure_keeps_orders_amounts_and_figures(person, admin_user):
    customer, order, _job, _export = person
    before = (
        order.total,
        order.number,
        order.ordered_at,
        list(order.lines.values_list("product_id", "quantity")),
    )
    figures = (customer.order_count, customer.total_spend, customer.first_purchase_at, customer.province)
    customer_erase(customer=customer, user=admin_user, reason="客户要求删除")
    order.refresh_from_db()
    assert (
        order.total,
        order.number,
        order.ordered_at,
        list(order.lines.values_list("product_id", "quantity")),
    ) == before
    assert order.total > Decimal("0") and order.customer_id == customer.pk and order.notes == ""
    customer.refresh_from_db()
    assert (
        customer.order_count,
        customer.total_spend,
        customer.first_purchase_at,
        customer.province,
    ) == figures
    # The records stay, with their text replaced.
    assert Interaction.objects.get(customer=customer).summary == "—"
    # (The opportunity's stage made a follow-up task too.)
    assert set(Task.objects.filter(customer=customer).values_list("title", "notes")) == {("—", "")}
    ticket = Ticket.objects.get(customer=customer)
    assert (ticket.subject, ticket.description) == ("—", "")
    assert TicketComment.objects.get(ticket=ticket).body == ""
    assert Opportunity.objects.get(customer=customer).title == "—"
    assert Article.objects.get().title == "如何处理***的投诉"


def test_the_customer_becomes_a_translated_placeholder(person, admin_user):
    from django.utils import translation

    customer = person[0]
    customer_erase(customer=customer, user=admin_user, reason="r")
    customer.refresh_from_db()
    assert customer.is_anonymised and customer.name == ""
    with translation.override("zh-hans"):
        assert str(customer) == f"已匿名客户 #{customer.pk}"
    with translation.override("en"):
        assert str(customer) == f"Anonymised customer #{customer.pk}"


def test_erasure_is_recorded_and_consent_withdrawn(person, admin_user):
    customer = person[0]
    record = customer_erase(customer=customer, user=admin_user, reason="客户要求删除", reference="REQ-1")
    assert (record.kind, record.customer, record.requested_by, record.reference) == (
        PrivacyRequest.Kind.ERASURE,
        customer,
        admin_user,
        "REQ-1",
    )
    assert record.executed_at is not None and record.summary["contacts"] == 1
    entry = AuditLog.objects.get(action=AuditLog.Action.ERASE)
    assert (entry.actor, entry.object_id) == (admin_user, str(customer.pk))
    # Earlier entries about the customer and its contact keep their facts, not the names.
    reveals = AuditLog.objects.filter(action=AuditLog.Action.REVEAL)
    assert reveals.count() == 2 and not reveals.filter(object_repr__contains="欧阳").exists()
    latest = ConsentRecord.objects.filter(customer=customer).first()
    assert (latest.granted, latest.source) == (False, ConsentRecord.Source.ERASURE)
    customer.refresh_from_db()
    assert not customer.marketing_consent


def test_erasure_runs_once(person, admin_user):
    customer = person[0]
    customer_erase(customer=customer, user=admin_user, reason="r")
    with pytest.raises(AlreadyAnonymised):
        customer_erase(customer=customer, user=admin_user, reason="r")
    assert PrivacyRequest.objects.filter(kind="erasure").count() == 1


def test_erasure_also_erases_customers_merged_into_it(rep, admin_user, manager):
    from customers.services import customer_merge

    survivor = CustomerFactory(name="合并后客户甲", owner=rep, mobile="13711112222")
    merged = CustomerFactory(name="被合并客户乙丙", owner=rep, email="merged.person@privacy-test.example")
    customer_merge(survivor=survivor, merged=merged, choices={}, user=manager)
    customer_erase(customer=survivor, user=admin_user, reason="r")
    merged.refresh_from_db()
    assert merged.is_anonymised and merged.email == ""
    assert find_anywhere(["被合并客户乙丙", "merged.person@privacy-test.example", "合并后客户甲"]) == []


def test_bystanders_keep_their_data(person, bystander, admin_user):
    customer_erase(customer=person[0], user=admin_user, reason="r")
    bystander.refresh_from_db()
    assert (bystander.name, bystander.mobile, bystander.email) == (
        "张三丰",
        "13812345678",
        "zhang@example.com",
    )
    assert bystander.contacts.get().name == "李四"
    assert Interaction.objects.get(customer=bystander).details == "要报价"
    assert bystander.search_text and bystander.anonymised_at is None


def test_anonymised_customers_cannot_be_edited(client, person, admin_user):
    customer = person[0]
    customer_erase(customer=customer, user=admin_user, reason="r")
    client.force_login(admin_user)
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == 403
    page = client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200 and b"anonymised-banner" in page.content
    customer.refresh_from_db()
    assert customer.anonymised_at <= timezone.now()
