"""Custom fields (自定义字段): definitions, typed storage, validation, the API's functions."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from core import custom_fields
from core.models import CustomField
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def define(target="customer", **kwargs) -> CustomField:
    kwargs.setdefault("key", "industry_code")
    kwargs.setdefault("label_en", kwargs["key"].replace("_", " ").title())
    return CustomField.objects.create(target=target, **kwargs)


def test_label_follows_the_language_and_falls_back_to_the_other():
    field = define(label_en="Budget", label_zh_hans="预算")
    only_en = define(key="size", label_en="Size", label_zh_hans="")
    with translation.override("zh-hans"):
        assert field.label == "预算"
        assert only_en.label == "Size"
    with translation.override("en"):
        assert field.label == "Budget"


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("text", "  abc ", "abc"),
        ("number", "1,200", 1200),
        ("number", 7.0, 7),
        ("decimal", "12.50", Decimal("12.5")),
        ("date", "2026/3/1", date(2026, 3, 1)),
        ("date", "2026年3月1日", date(2026, 3, 1)),
        ("yes_no", "是", True),
        ("yes_no", "no", False),
        ("choice", "Gold", "gold"),
        ("choice", "金牌", "gold"),
        ("multi_choice", "银牌，gold", ["gold", "silver"]),
    ],
)
def test_values_are_parsed_to_their_type(kind, raw, expected):
    field = define(kind=kind, choices="gold | Gold | 金牌\nsilver | Silver | 银牌")
    assert custom_fields.parse_value(field, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("number", "12.5", "Enter a whole number."),
        ("number", "abc", "Enter a whole number."),
        ("decimal", "1.2.3", "Enter a number."),
        ("date", "2026-02-30", "Enter a valid date, e.g. 2026-03-01."),
        ("yes_no", "maybe", "Enter yes or no (是/否)."),
        ("choice", "bronze", "“bronze” is not one of the choices: Gold, Silver."),
    ],
)
def test_bad_values_are_refused_with_a_translated_reason(kind, raw, message):
    field = define(kind=kind, choices="gold | Gold | 金牌\nsilver | Silver | 银牌")
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        custom_fields.parse_value(field, raw)
    assert exc.value.messages == [message]


def test_clean_custom_values_types_values_and_reports_each_problem():
    define(key="budget", kind="decimal")
    define(key="visits", kind="number", required=True)
    define(key="since", kind="date")
    stored = custom_fields.clean_custom_values(
        "customer", {"budget": "99.9", "visits": 3, "since": "2026-01-02"}
    )
    assert stored == {"budget": 99.9, "visits": 3, "since": "2026-01-02"}
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        custom_fields.clean_custom_values("customer", {"budget": "x", "nope": 1})
    assert exc.value.message_dict == {
        "budget": ["Enter a number."],
        "visits": ["This field is required."],
        "nope": ["Unknown custom field."],
    }
    # A PATCH may leave out a required field that already has a value.
    assert (
        custom_fields.clean_custom_values("customer", {"budget": 1}, current=stored, partial=True)["visits"]
        == 3
    )


def test_sensitive_values_are_encrypted_in_the_database_and_masked_for_who_may_not_see_them(rep, service):
    define(key="id_number", label_en="ID number", sensitive=True, filterable=True)
    customer = CustomerFactory(owner=rep)
    customer.custom = custom_fields.clean_custom_values("customer", {"id_number": "110101199001011234"})
    customer.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT custom::text FROM customers_customer WHERE id = %s", [customer.pk])
        raw = cursor.fetchone()[0]
        cursor.execute("SELECT custom::text FROM customers_historicalcustomer WHERE id = %s", [customer.pk])
        history = " ".join(row[0] for row in cursor.fetchall())
    assert "110101199001011234" not in raw and "gAAAAA" in raw
    assert "110101199001011234" not in history
    customer.refresh_from_db()
    assert custom_fields.custom_values_for(customer, service) == {"id_number": "110101199001011234"}
    rep.user_permissions.clear()
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="sales_rep")
    perm = group.permissions.get(codename="view_sensitive")
    group.permissions.remove(perm)
    rep = type(rep).objects.get(pk=rep.pk)
    assert custom_fields.custom_values_for(customer, rep) == {"id_number": "11****"}


def test_storage_is_typed_json():
    define(key="n", kind="number")
    define(key="d", kind="date")
    define(key="b", kind="yes_no")
    define(key="m", kind="multi_choice", choices="a\nb\nc")
    customer = CustomerFactory()
    customer.custom = custom_fields.clean_custom_values(
        "customer", {"n": "5", "d": "2026-05-01", "b": "yes", "m": "c,a"}
    )
    customer.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT jsonb_typeof(custom->'n'), jsonb_typeof(custom->'d'), jsonb_typeof(custom->'b'), "
            "jsonb_typeof(custom->'m') FROM customers_customer WHERE id = %s",
            [customer.pk],
        )
        assert cursor.fetchone() == ("number", "string", "boolean", "array")
    customer.refresh_from_db()
    assert customer.custom["m"] == ["a", "c"]
