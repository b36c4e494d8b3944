"""Marketing consent history: every path that changes consent writes a ConsentRecord and keeps
Customer.marketing_consent* in step; the customer page shows the history."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import importing
from customers.models import ConsentRecord, Customer
from customers.services import consent_record_change, customer_merge
from customers.tests.factories import CustomerFactory
from customers.tests.test_import import csv_bytes, run

pytestmark = pytest.mark.django_db

FORM = {"kind": "individual", "name": "许可客户", "lifecycle_stage": "prospect", "value_tier": "potential"}


def test_creating_a_consenting_customer_on_the_form_starts_the_history(client, rep):
    client.force_login(rep)
    response = client.post(
        "/customers/new/", {**FORM, "marketing_consent": "on", "marketing_consent_channel": "paper"}
    )
    assert response.status_code == 302
    customer = Customer.objects.get(name="许可客户")
    record = ConsentRecord.objects.get(customer=customer)
    assert (record.granted, record.source, record.recorded_by, record.channel) == (True, "paper", rep, "all")
    assert record.at == customer.marketing_consent_at


def test_withdrawing_on_the_form_is_recorded(client, rep):
    customer = CustomerFactory(
        name="许可客户", owner=rep, marketing_consent=True, marketing_consent_channel="web_form"
    )
    client.force_login(rep)
    client.post(f"/customers/{customer.pk}/edit/", FORM)
    customer.refresh_from_db()
    assert not customer.marketing_consent
    latest = ConsentRecord.objects.filter(customer=customer).first()
    assert (latest.granted, latest.source, latest.recorded_by) == (False, "staff", rep)
    assert ConsentRecord.objects.filter(customer=customer).count() == 2


def test_an_edit_that_leaves_consent_alone_records_nothing(client, rep):
    customer = CustomerFactory(name="许可客户", owner=rep)
    client.force_login(rep)
    client.post(f"/customers/{customer.pk}/edit/", {**FORM, "city": "北京"})
    assert not ConsentRecord.objects.exists()


def test_the_consent_form_records_a_change_and_updates_the_customer(client, rep):
    customer = CustomerFactory(name="许可客户", owner=rep)
    client.force_login(rep)
    response = client.post(
        f"/customers/{customer.pk}/consent/",
        {"granted": "1", "channel": "all", "source": "phone", "note": "电话同意"},
    )
    assert response.status_code == 302 and response["Location"].endswith("#consent")
    customer.refresh_from_db()
    assert customer.marketing_consent and customer.marketing_consent_channel == "verbal"
    client.post(
        f"/customers/{customer.pk}/consent/", {"granted": "0", "channel": "all", "source": "unsubscribe"}
    )
    customer.refresh_from_db()
    assert not customer.marketing_consent and customer.marketing_consent_at is None
    assert list(ConsentRecord.objects.filter(customer=customer).values_list("granted", "source")) == [
        (False, "unsubscribe"),
        (True, "phone"),
    ]
    # One channel only: recorded, the overall consent stays.
    consent_record_change(customer=customer, granted=True, channel="sms", source="web_form", user=rep)
    customer.refresh_from_db()
    assert not customer.marketing_consent and ConsentRecord.objects.filter(channel="sms").exists()


def test_the_consent_form_needs_edit_rights_and_scope(client, rep, other_rep, service):
    customer = CustomerFactory(name="许可客户", owner=rep)
    data = {"granted": "1", "channel": "all", "source": "phone"}
    client.force_login(other_rep)
    assert client.post(f"/customers/{customer.pk}/consent/", data).status_code == 404
    client.force_login(service)
    assert client.post(f"/customers/{customer.pk}/consent/", data).status_code == 403
    assert client.get(f"/customers/{customer.pk}/consent/").status_code == 405
    assert not ConsentRecord.objects.exists()


def test_importing_consenting_customers_records_it(rep):
    job = run(
        rep,
        csv_bytes([["姓名", "手机", "营销同意"], ["甲", "13800138000", "是"], ["乙", "13800138001", "否"]]),
    )
    assert job.imported == 2
    record = ConsentRecord.objects.get()
    assert (record.customer.name, record.granted, record.source, record.recorded_by) == (
        "甲",
        True,
        "import",
        rep,
    )


def test_an_import_that_changes_consent_records_it_and_undo_records_it_back(rep):
    customer = CustomerFactory(name="甲", owner=rep, mobile="13800138000")
    job = run(
        rep, csv_bytes([["姓名", "手机", "营销同意"], ["甲", "13800138000", "是"]]), on_duplicate="update"
    )
    assert job.updated == 1
    customer.refresh_from_db()
    assert customer.marketing_consent
    assert list(ConsentRecord.objects.values_list("granted", "source")) == [(True, "import")]
    importing.import_undo(job=job, user=rep)
    customer.refresh_from_db()
    assert not customer.marketing_consent
    assert list(ConsentRecord.objects.values_list("granted", "source")) == [
        (False, "import_undone"),
        (True, "import"),
    ]


def test_undoing_an_import_still_deletes_the_customers_it_created_with_consent(rep):
    job = run(rep, csv_bytes([["姓名", "手机", "营销同意"], ["甲", "13800138000", "是"]]))
    counts = importing.import_undo(job=job, user=rep)
    assert counts["deleted"] == 1 and not Customer.objects.exists() and not ConsentRecord.objects.exists()


def test_a_merge_that_loses_consent_records_it(rep, manager):
    survivor = CustomerFactory(
        name="甲", owner=rep, marketing_consent=True, marketing_consent_channel="paper"
    )
    merged = CustomerFactory(name="甲2", owner=rep)
    customer_merge(survivor=survivor, merged=merged, choices={}, user=manager)
    survivor.refresh_from_db()
    assert not survivor.marketing_consent
    latest = ConsentRecord.objects.filter(customer=survivor).first()
    assert (latest.granted, latest.source, latest.recorded_by) == (False, "merge", manager)


def test_the_customer_page_shows_the_history(client, rep):
    customer = CustomerFactory(name="许可客户", owner=rep)
    consent_record_change(customer=customer, granted=True, source="phone", user=rep, note="电话里说可以")
    client.force_login(rep)
    body = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-testid="consent-history"' in body and "电话里说可以" in body


def test_customer_page_query_count_does_not_grow_with_consent_records(client, rep, admin_user):
    """The consent history is one query (recorded_by joined); the privacy link costs none."""
    customer = CustomerFactory(name="许可客户", owner=rep)
    client.force_login(admin_user)
    consent_record_change(customer=customer, granted=True, source="phone", user=rep)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/customers/{customer.pk}/")
    for granted in (False, True, False, True):
        consent_record_change(customer=customer, granted=granted, source="phone", user=admin_user)
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    consent_queries = [q["sql"] for q in many.captured_queries if "customers_consentrecord" in q["sql"]]
    assert len(consent_queries) == 1


def test_the_data_migration_gives_existing_consenting_customers_one_row(rep):
    consenting = CustomerFactory(
        name="老客户", owner=rep, marketing_consent=True, marketing_consent_channel="email"
    )
    CustomerFactory(name="没同意", owner=rep)
    ConsentRecord.objects.all().delete()
    migration = importlib.import_module("customers.migrations.0007_consent_history_backfill")
    migration.backfill(global_apps, None)
    migration.backfill(global_apps, None)  # safe to run again: one row each
    record = ConsentRecord.objects.get()
    assert (record.customer, record.granted, record.source, record.at) == (
        consenting,
        True,
        "email",
        consenting.marketing_consent_at,
    )
