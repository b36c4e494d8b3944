"""Encryption at rest, key rotation, blind index, normalisation and masking."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from django.db import connection

from core import crypto
from core.personal_data import mask_email, mask_phone, normalize_email, normalize_phone, phone_search_key
from customers.models import Customer
from customers.tests.factories import CustomerFactory, make_contact


def _raw(table: str, pk: int, columns: list[str]) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def _all_raw_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return repr(cursor.fetchall())


@pytest.mark.django_db
def test_personal_data_is_never_stored_in_clear(rep):
    customer = CustomerFactory(
        name="王小明",
        owner=rep,
        mobile="13800138000",
        email="wxm@example.com",
        wechat="wx_secret",
        street="人民路 88 号",
    )
    make_contact(customer, name="李四", phone="13900139000", email="lisi@example.com")
    customer.mobile = "13700137000"
    customer.save()  # a second history row
    for table in ("customers_customer", "customers_historicalcustomer", "customers_contact"):
        raw = _all_raw_text(table)
        for secret in (
            "13800138000",
            "13700137000",
            "wxm@example.com",
            "wx_secret",
            "人民路",
            "13900139000",
            "lisi@",
        ):
            assert secret not in raw, (table, secret)
    mobile, email = _raw("customers_customer", customer.pk, ["mobile", "email"])
    assert mobile.startswith(crypto.TOKEN_PREFIX) and email.startswith(crypto.TOKEN_PREFIX)
    # ... while Python code reads plaintext.
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.mobile, fresh.email, fresh.street) == ("13700137000", "wxm@example.com", "人民路 88 号")
    assert fresh.history.earliest().mobile == "13800138000"


@pytest.mark.django_db
def test_two_encryptions_of_one_value_differ():
    assert crypto.encrypt("13800138000") != crypto.encrypt("13800138000")


@pytest.mark.django_db
def test_key_rotation_reencrypts_every_row_with_the_newest_key(settings, rep):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    customer = CustomerFactory(name="轮换", owner=rep, mobile="13800138000", email="r@example.com")
    contact = make_contact(customer, name="联系人", phone="13900139000")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115

    # Only the new key is needed from now on: history rows and contacts included.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.mobile, fresh.email) == ("13800138000", "r@example.com")
    assert fresh.history.earliest().mobile == "13800138000"
    assert type(contact).objects.get(pk=contact.pk).phone == "13900139000"
    raw_mobile = _raw("customers_customer", customer.pk, ["mobile"])[0]
    assert crypto.encrypted_with_primary_key(raw_mobile)
    # The old key alone no longer opens it.
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(ImproperlyConfigured):
        Customer.objects.get(pk=customer.pk)


@pytest.mark.django_db
def test_rotation_is_idempotent(settings, rep):
    CustomerFactory(name="一次", owner=rep, mobile="13800138000")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    from io import StringIO

    first, second = StringIO(), StringIO()
    call_command("rotate_encryption_keys", stdout=first)
    call_command("rotate_encryption_keys", stdout=second)
    assert "customers.Customer: 1 rows" in first.getvalue()
    assert "customers.Customer: 0 rows" in second.getvalue()


def test_a_wrong_key_gives_a_clear_error_without_the_value(settings):
    token = crypto.encrypt("13800138000")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured) as excinfo:
        crypto.decrypt(token)
    assert "13800138000" not in str(excinfo.value) and token not in str(excinfo.value)


def test_a_malformed_key_is_reported(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet keys"):
        crypto.encrypt("x")


def test_blind_index_is_keyed_and_separates_purposes(settings):
    a = crypto.blind_index("13800138000", purpose="phone")
    assert a == crypto.blind_index("13800138000", purpose="phone")
    assert a != crypto.blind_index("13800138000", purpose="email")
    settings.BLIND_INDEX_KEY = "another-key"
    assert a != crypto.blind_index("13800138000", purpose="phone")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("86 13800138000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("13800138000.0", "13800138000"),
        ("1.3800138E+10", "13800138000"),
        ("(010) 8888-6666", "+861088886666"),
        ("+1 415 555 2671", "+14155552671"),
        ("", ""),
    ],
)
def test_phone_numbers_are_normalised(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    # "1E309" and friends: float("1E309") is infinity, whose int() raised OverflowError.
    "raw",
    ["12345", "12800138000", "abc", "+86 999", "1380013800", "1E309", "1.5e400", "9E99"],
)
def test_invalid_phone_numbers_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_email_is_normalised_and_validated():
    assert normalize_email("  Zhang@Example.COM ") == "zhang@example.com"
    with pytest.raises(ValidationError):
        normalize_email("not-an-email")


def test_masking():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+14155552671").endswith("2671") and "415" not in mask_phone("+14155552671")
    assert mask_email("zhang@example.com") == "z***@example.com"
    assert mask_phone("") == "" and mask_email("") == ""


def test_phone_search_key_recognises_numbers_only():
    assert phone_search_key("138 0013 8000") == "13800138000"
    assert phone_search_key("zs") is None
    assert phone_search_key("2024") is None
