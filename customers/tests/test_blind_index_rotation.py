"""`manage.py rotate_blind_index_key`: after BLIND_INDEX_KEY changes, phone and email search
work again once every blind index is recomputed."""

import io

import pytest
from django.core.management import call_command

from core.models import AuditLog
from customers.models import Contact, Customer
from customers.search import email_bidx, phone_bidx
from customers.tests.factories import CustomerFactory, make_contact

pytestmark = pytest.mark.django_db


def found(phone: str = "13812345678", email: str = "zhang@example.com") -> tuple[bool, bool, bool]:
    return (
        Customer.objects.filter(mobile_bidx=phone_bidx(phone)).exists(),
        Customer.objects.filter(email_bidx=email_bidx(email)).exists(),
        Contact.objects.filter(phone_bidx=phone_bidx("13900001111")).exists(),
    )


def test_a_new_key_needs_the_reindex_and_then_search_works_again(rep, settings):
    customer = CustomerFactory(owner=rep, mobile="13812345678", email="zhang@example.com")
    make_contact(customer, phone="13900001111")
    history_rows = Customer.history.filter(id=customer.pk).count()
    assert found() == (True, True, True)

    settings.BLIND_INDEX_KEY = "a-brand-new-blind-index-key"
    assert found() == (False, False, False)

    out = io.StringIO()
    call_command("rotate_blind_index_key", stdout=out)
    assert found() == (True, True, True)
    assert "customers.Customer: 1 rows re-indexed" in out.getvalue()
    assert "customers.Contact: 1 rows re-indexed" in out.getvalue()
    # The change history follows, without new history rows.
    assert (
        Customer.history.filter(id=customer.pk, mobile_bidx=phone_bidx("13812345678")).count() == history_rows
    )
    entry = AuditLog.objects.get(action=AuditLog.Action.KEY_ROTATION)
    assert entry.details == {"key": "BLIND_INDEX_KEY", "rows": 1 + history_rows + 1}

    # Safe to run again: nothing left to change.
    out = io.StringIO()
    call_command("rotate_blind_index_key", stdout=out)
    assert "Done: 0 rows re-indexed" in out.getvalue()
