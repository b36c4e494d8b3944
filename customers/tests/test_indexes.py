"""Every filter and sort the ledger offers is served by an index (PostgreSQL).

With sequential scans disabled, the planner still picks one when no index can serve the
query; so "no Seq Scan on customers_customer" proves an index exists for it.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from core.pagination import _after, _decode, _order, keyset_page
from customers.filters import CustomerFilter
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from customers.views import SORTS, _list_queryset

pytestmark = pytest.mark.django_db


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _page_query(user, params: dict, sort: str = "-created"):
    """The query the list page runs for one page (without the tag prefetch)."""
    request = RequestFactory().get("/customers/", params)
    filterset = CustomerFilter(request.GET, queryset=_list_queryset(user), user=user)
    option = SORTS[sort]
    return filterset.qs.prefetch_related(None).order_by(*_order(option, option.descending))[:51]


@pytest.fixture
def data(rep, teammate, manager, admin_user):
    for i in range(5):
        CustomerFactory(name=f"张伟{i}", owner=rep, mobile=f"1380013800{i}", email=f"a{i}@example.com")
    return rep


CASES = [
    ("rep", {}, "-created"),
    ("rep", {}, "name"),
    ("rep", {}, "-contacted"),
    ("rep", {}, "contacted"),
    ("manager", {}, "-created"),
    ("admin_user", {}, "-created"),
    ("admin_user", {}, "-name"),
    ("admin_user", {}, "-contacted"),
    ("admin_user", {"lifecycle_stage": "existing", "value_tier": "vip"}, "-created"),
    ("admin_user", {"value_tier": "vip"}, "-created"),
    ("admin_user", {"abc_class": "A"}, "-created"),
    ("admin_user", {"province": "上海市", "city": "上海市"}, "-created"),
    ("admin_user", {"source": "referral"}, "-created"),
    ("admin_user", {"stale": "on"}, "-created"),
    ("admin_user", {"team": "1"}, "-created"),
    ("admin_user", {"owner": "1"}, "-created"),
    ("admin_user", {"q": "张伟"}, "-created"),
    ("admin_user", {"q": "zhangwei"}, "-created"),
    ("admin_user", {"q": "13800138001"}, "-created"),
    ("admin_user", {"q": "a1@example.com"}, "-created"),
    ("admin_user", {"created_after": "2026-01-01"}, "-created"),
    ("admin_user", {"last_contacted_after": "2026-01-01"}, "-contacted"),
    # Follow-up escalation marks (cust_followup_reminded_idx, cust_followup_escalated_idx).
    ("admin_user", {"followup": "overdue"}, "-created"),
    ("admin_user", {"followup": "escalated"}, "-created"),
]


@pytest.mark.parametrize(("persona", "params", "sort"), CASES)
def test_list_queries_use_an_index(request, data, persona, params, sort):
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on PostgreSQL")
    user = request.getfixturevalue(persona)
    plan = _plan(_page_query(user, params, sort))
    assert "Seq Scan on customers_customer" not in plan, plan


def test_recycle_bin_and_purge_use_an_index(data):
    qs = Customer.objects.deleted().order_by("-deleted_at")[:50]
    assert "Seq Scan on customers_customer" not in _plan(qs)
    limit = timezone.now() - timedelta(days=30)
    qs = Customer.objects.filter(deleted_at__lt=limit, merged_into__isnull=True).values("pk")[:500]
    assert "Seq Scan on customers_customer" not in _plan(qs)


def test_keyset_next_page_uses_the_sort_index(rep, data):
    qs = _list_queryset(rep)
    page = keyset_page(qs, SORTS["-created"], None, 2)
    value, pk, _ = _decode(page.next_cursor)
    nxt = (
        qs.prefetch_related(None)
        .order_by(*_order(SORTS["-created"], True))
        .filter(_after(SORTS["-created"], True, value, pk))[:3]
    )
    assert "Seq Scan on customers_customer" not in _plan(nxt)


def test_the_check_would_notice_a_missing_index(data):
    # Control: industry is not a filter we offer, so it has no index and shows a Seq Scan.
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on PostgreSQL")
    assert "Seq Scan on customers_customer" in _plan(Customer.objects.filter(industry="零售"))


# --- the customer pool (公海) ---------------------------------------------------------------

POOL_CASES = [
    ("rep", {}, "-created", "cust_pool_created_idx"),
    ("rep", {}, "created", "cust_pool_created_idx"),
    ("rep", {}, "-contacted", "cust_pool_contact_idx"),
    ("rep", {}, "contacted", "cust_pool_contact_idx"),
    ("rep", {}, "name", None),
    ("manager", {"lifecycle_stage": "prospect"}, "-created", None),
    ("admin_user", {}, "-created", None),
    ("admin_user", {"q": "张伟"}, "-created", None),
]


@pytest.mark.parametrize(("persona", "params", "sort", "index"), POOL_CASES)
def test_pool_list_queries_use_an_index(request, data, team, persona, params, sort, index):
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on PostgreSQL")
    from customers.views_pool import _pool_queryset

    for i in range(5):
        CustomerFactory(name=f"公海{i}", owner=None, team=team)
    user = request.getfixturevalue(persona)
    pool_ids = list(Customer.objects.in_pool().values_list("pool_id", flat=True).distinct())
    request_ = RequestFactory().get("/customers/pool/", params)
    filterset = CustomerFilter(request_.GET, queryset=_pool_queryset(user, pool_ids), user=user)
    option = SORTS[sort]
    qs = filterset.qs.prefetch_related(None).order_by(*_order(option, option.descending))[:51]
    plan = _plan(qs)
    assert "Seq Scan on customers_customer" not in plan, plan
    if index:
        assert index in plan, plan
