"""Segments: counts equal the customer ledger's, per role; static lists; permissions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from marketing import services
from marketing.models import Segment, SegmentMember
from marketing.selectors import segment_count

pytestmark = pytest.mark.django_db

QUERIES = ["", "lifecycle_stage=prospect", "value_tier=vip&value_tier=active", "q=张", "no_owner=on"]


@pytest.fixture
def customers(rep, teammate, other_rep):
    made = []
    for owner in (rep, teammate, other_rep, None):
        for i, (stage, tier) in enumerate(
            [("prospect", "vip"), ("new", "active"), ("prospect", "dormant"), ("existing", "vip")]
        ):
            made.append(
                CustomerFactory(
                    owner=owner, name=f"张{i}{owner or 'pool'}", lifecycle_stage=stage, value_tier=tier
                )
            )
    return made


@pytest.mark.parametrize("persona", ["rep", "manager", "other_manager", "service", "admin_user"])
@pytest.mark.parametrize("query", QUERIES)
def test_segment_count_equals_the_ledger_count_for_the_same_filters(
    client, request, customers, persona, query
):
    user = request.getfixturevalue(persona)
    segment = Segment.objects.create(name="s", kind=Segment.Kind.DYNAMIC, query=query, created_by=user)
    client.force_login(user)
    listed = client.get(f"/customers/?{query}").context["page"].count
    assert segment_count(segment, user) == (listed, False)
    # The segment list page shows the same number.
    response = client.get("/marketing/segments/") if user.has_perm("marketing.view_segment") else None
    if response is not None:
        shown = {s.pk: s.count for s in response.context["page"].object_list}
        assert shown[segment.pk] == listed


def test_a_segment_is_evaluated_in_the_viewers_scope(rep, manager, customers):
    segment = services.segment_create(user=manager, name="潜在", kind=Segment.Kind.DYNAMIC, query="")
    assert segment_count(segment, manager)[0] == 8  # the rep's and the teammate's
    assert segment_count(segment, rep)[0] == 4


def test_counts_are_capped_like_the_ledger(rep, customers, settings):
    settings.LIST_COUNT_LIMIT = 3
    segment = services.segment_create(user=rep, name="all", kind=Segment.Kind.DYNAMIC, query="")
    assert segment_count(segment, rep) == (3, True)


def test_save_as_segment_from_the_ledger(client, rep, customers):
    client.force_login(rep)
    response = client.post(
        "/marketing/segments/new/", {"name": "潜在客户", "query": "lifecycle_stage=prospect"}
    )
    assert response.status_code == 302
    segment = Segment.objects.get(name="潜在客户")
    assert (segment.kind, segment.query, segment.created_by) == ("dynamic", "lifecycle_stage=prospect", rep)
    # Opening it opens the ledger with its filters.
    assert (
        client.get(f"/marketing/segments/{segment.pk}/")["Location"] == "/customers/?lifecycle_stage=prospect"
    )


def test_save_as_segment_without_a_name_changes_nothing(client, rep):
    client.force_login(rep)
    with translation.override("en"):
        response = client.post(
            "/marketing/segments/new/", {"name": " ", "query": "x=1"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert "Give the segment a name." in response.content.decode()
    assert not Segment.objects.exists()


def test_the_ledger_offers_save_as_segment_and_add_to_static_list(client, rep, customers):
    client.force_login(rep)
    html = client.get("/customers/?lifecycle_stage=prospect").content.decode()
    assert 'id="save-segment-form"' in html
    assert 'data-testid="add-to-static-list"' in html


def test_add_selection_to_a_new_static_list_after_confirmation(client, rep, other_rep, customers):
    mine = [c.pk for c in customers if c.owner == rep][:2]
    theirs = next(c.pk for c in customers if c.owner == other_rep)
    client.force_login(rep)
    data = {"ids": ",".join(map(str, [*mine, theirs])), "query": ""}
    response = client.post("/marketing/segments/add/", data)
    assert response.status_code == 200 and response.context["count"] == 2  # the other's is not visible
    assert not Segment.objects.exists()
    response = client.post("/marketing/segments/add/", {**data, "confirmed": "on", "new_name": "展会名单"})
    segment = Segment.objects.get(name="展会名单")
    assert segment.kind == "static"
    assert set(segment.memberships.values_list("customer_id", flat=True)) == set(mine)
    assert response["Location"] == f"/marketing/segments/{segment.pk}/"
    # Adding again adds nothing twice.
    client.post("/marketing/segments/add/", {**data, "confirmed": "on", "segment": segment.pk})
    assert segment.memberships.count() == 2


def test_add_all_matching_the_filters(client, rep, customers):
    segment = services.segment_create(user=rep, name="list", kind=Segment.Kind.STATIC)
    client.force_login(rep)
    client.post(
        "/marketing/segments/add/",
        {"select_all": "on", "query": "lifecycle_stage=prospect", "confirmed": "on", "segment": segment.pk},
    )
    expected = Customer.objects.visible_to(rep).filter(lifecycle_stage="prospect").count()
    assert segment.memberships.count() == expected == 2


def test_remove_members_of_a_static_list(client, rep, customers):
    segment = services.segment_create(user=rep, name="list", kind=Segment.Kind.STATIC)
    services.segment_add_members(segment=segment, customers=Customer.objects.visible_to(rep), user=rep)
    first = segment.memberships.first().customer_id
    client.force_login(rep)
    response = client.get(f"/marketing/segments/{segment.pk}/")
    assert response.context["page"].paginator.count == 4
    client.post(f"/marketing/segments/{segment.pk}/remove/", {"customer": [first]})
    assert not SegmentMember.objects.filter(segment=segment, customer_id=first).exists()
    assert segment.memberships.count() == 3


def test_static_members_outside_the_viewers_scope_are_not_shown(rep, manager, customers):
    segment = services.segment_create(user=manager, name="list", kind=Segment.Kind.STATIC)
    services.segment_add_members(
        segment=segment, customers=Customer.objects.visible_to(manager), user=manager
    )
    assert segment_count(segment, manager)[0] == 8
    assert segment_count(segment, rep)[0] == 4


def test_another_reps_segment_answers_404_and_deleting_is_confirmed_and_audited(client, rep, other_rep):
    from core.models import AuditLog

    segment = services.segment_create(user=rep, name="mine", kind=Segment.Kind.DYNAMIC, query="")
    client.force_login(other_rep)
    assert client.get(f"/marketing/segments/{segment.pk}/").status_code == 404
    assert client.post(f"/marketing/segments/{segment.pk}/delete/").status_code == 404
    client.force_login(rep)
    assert client.get(f"/marketing/segments/{segment.pk}/delete/").status_code == 200
    assert Segment.objects.filter(pk=segment.pk).exists()
    client.post(f"/marketing/segments/{segment.pk}/delete/")
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert AuditLog.objects.filter(action="delete", object_type="marketing.segment").exists()


def test_customer_service_may_not_build_segments(client, service):
    client.force_login(service)
    assert client.get("/marketing/segments/").status_code == 403
    assert client.post("/marketing/segments/new/", {"name": "x", "query": ""}).status_code == 403
    assert not Segment.objects.exists()


def test_segment_list_query_count(client, rep, customers):
    """Fixed queries plus exactly one bounded count per segment on the page (at most 25)."""
    client.force_login(rep)
    counts = {}
    for total in (5, 10):
        while Segment.objects.count() < total:
            services.segment_create(user=rep, name=f"s{Segment.objects.count()}", kind="dynamic", query="")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/marketing/segments/")
        assert response.status_code == 200
        counts[total] = len(ctx.captured_queries)
    assert counts[10] - counts[5] == 5
    # session, user, perms (2), paginator count, the page, custom-field definitions,
    # scope (managed teams), unread notifications, tasks due, session save (3), the counts.
    assert counts[5] <= 17 + 5, counts
