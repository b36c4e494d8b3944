"""One search box: names (substring, Chinese included), pinyin, initials, phone, email."""

import pytest

from customers.models import Customer
from customers.search import search_customers, search_fields_for
from customers.tests.factories import CustomerFactory, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(rep):
    return {
        "zhang": CustomerFactory(name="张三丰", owner=rep, mobile="13800138000", email="zsf@example.com"),
        "zhangwei": CustomerFactory(name="张伟", owner=rep, company="上海明远贸易有限公司"),
        "li": CustomerFactory(name="李四", owner=rep, other_phone="+1 415 555 2671"),
        "smith": CustomerFactory(name="John Smith", owner=rep, company="Acme Trading"),
        "acme": CustomerFactory(name="北京星辰科技", owner=rep, kind=Customer.Kind.COMPANY),
    }


def _find(query: str) -> set[str]:
    return set(search_customers(Customer.objects.all(), query).values_list("name", flat=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("张三丰", {"张三丰"}),
        ("三丰", {"张三丰"}),  # two-character Chinese term: grams
        ("张伟", {"张伟"}),
        ("张", {"张三丰", "张伟"}),  # one character
        ("明远贸易", {"张伟"}),  # company substring
        ("zhangsanfeng", {"张三丰"}),  # full pinyin
        ("sanfeng", {"张三丰"}),
        ("zsf", {"张三丰"}),  # pinyin initials
        ("zs", {"张三丰"}),  # two-letter initials
        ("ZSF", {"张三丰"}),  # case does not matter
        ("zw", {"张伟"}),
        ("smith", {"John Smith"}),
        ("acme", {"John Smith"}),
        ("星辰", {"北京星辰科技"}),
        ("13800138000", {"张三丰"}),  # exact phone (blind index)
        ("+86 138-0013-8000", {"张三丰"}),
        ("4155552671", set()),  # a foreign number needs its country code
        ("+1 415-555-2671", {"李四"}),  # other phone
        ("ZSF@Example.com", {"张三丰"}),  # exact email, normalised
        ("nobody@example.com", set()),
        ("不存在", set()),
    ],
)
def test_search_finds(people, query, expected):
    assert _find(query) == expected


def test_search_finds_a_company_by_its_contacts_name_phone_and_email(people):
    make_contact(people["acme"], name="王经理", phone="13912345678", email="wang@acme.cn")
    assert _find("王经理") == {"北京星辰科技"}
    assert _find("wjl") == {"北京星辰科技"}
    assert _find("139 1234 5678") == {"北京星辰科技"}
    assert _find("wang@acme.cn") == {"北京星辰科技"}


def test_phone_is_not_findable_by_substring(people):
    # Encrypted data is matched exactly, never by fragments.
    assert _find("0013800") == set()


def test_search_fields_hold_grams_and_pinyin():
    text, grams = search_fields_for(["张三丰", "Acme"])
    assert "zhangsanfeng" in text and "zsf" in text and "acme" in text
    assert {"张", "张三", "三丰", "zs", "sf", "ac"} <= set(grams)


def test_search_uses_the_gram_index_for_two_characters(people):
    from django.db import connection

    qs = search_customers(Customer.objects.all(), "张伟")
    sql = str(qs.query)
    assert "@>" in sql if connection.vendor == "postgresql" else "LIKE" in sql


def test_renaming_updates_the_search(people, rep):
    from customers.services import customer_update

    customer_update(customer=people["li"], user=rep, data={"name": "李小龙"})
    assert _find("lxl") == {"李小龙"}
    assert _find("李四") == set()
