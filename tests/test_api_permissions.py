"""The API's permission matrix: every endpoint × persona × operation answers what the web
page does (docs/permissions.md, core/tests/test_permission_matrix.py).

Classes as in the web matrix: O allowed (200/201/204), F 403, N 404 (outside the persona's
scope), U 401 (no token: the API's "sent to the login page"). Records are owned by `rep`.
"""

import pytest

from tests.api_helpers import ApiClient, build_world

PERSONAS = ("anonymous", "rep", "other_rep", "manager", "other_manager", "service", "admin_user")


def row(spec: str) -> dict[str, str]:
    classes = spec.split()
    assert len(classes) == len(PERSONAS)
    return dict(zip(PERSONAS, classes, strict=True))


def classify(response) -> str:
    return {200: "O", 201: "O", 204: "O", 401: "U", 403: "F", 404: "N"}.get(
        response.status_code, f"{response.status_code} {response.content[:300]!r}"
    )


# endpoint: (record of the world, web row for GET detail, PATCH, POST create)
#                                 anon rep other mgr other_mgr service admin
MATRIX = {
    "customers": ("customer", "U O N O N O O", "U O N O N F O", "U O O O O F O"),
    "contacts": ("contact", "U O N O N O O", "U O N O N F O", "U O N O N F O"),
    "interactions": ("interaction", "U O N O N O O", "U O N O N O O", "U O N O N O O"),
    # Tasks: service sees the task (its customer) but may not change it (not assignee/creator).
    "tasks": ("task", "U O N O N O O", "U O N O N F O", "U O N O N O O"),
    "orders": ("order", "U O N O N O O", "U O N O N F O", "U O N O N F O"),
    "opportunities": ("opportunity", "U O N O N O O", "U O N O N F O", "U O N O N F O"),
}


def create_payload(endpoint: str, w) -> dict:
    return {
        "customers": {"name": "王新客户"},
        "contacts": {"customer": w.customer.pk, "name": "李联系"},
        "interactions": {"customer": w.customer.pk, "summary": "电话沟通"},
        "tasks": {"customer": w.customer.pk, "title": "回访"},
        "orders": {"customer": w.customer.pk, "lines": [{"product": w.product.pk, "quantity": "2"}]},
        "opportunities": {"customer": w.customer.pk, "title": "大单", "amount": "1000.00"},
    }[endpoint]


PATCHES = {
    "customers": {"notes": "经 API 修改"},
    "contacts": {"title": "经理"},
    "interactions": {"summary": "改过的摘要"},
    "tasks": {"title": "改过的任务"},
    "orders": {"notes": "改过的备注"},
    "opportunities": {"title": "改过的商机"},
}


@pytest.fixture
def personas(rep, teammate, manager, other_rep, other_manager, service, admin_user):
    return {
        "anonymous": None,
        "rep": rep,
        "other_rep": other_rep,
        "manager": manager,
        "other_manager": other_manager,
        "service": service,
        "admin_user": admin_user,
    }


CASES = [
    (endpoint, op, persona) for endpoint in MATRIX for op in ("get", "patch", "post") for persona in PERSONAS
]


@pytest.mark.parametrize(("endpoint", "op", "persona"), CASES, ids=[f"{e}-{o}-{p}" for e, o, p in CASES])
def test_api_answers_like_the_web_page(personas, rep, endpoint, op, persona):
    w = build_world(rep)
    record_name, get_row, patch_row, post_row = MATRIX[endpoint]
    record = getattr(w, record_name)
    client = ApiClient(personas[persona])
    detail = f"/api/v1/{endpoint}/{record.pk}/"
    if op == "get":
        response, wanted = client.get(detail), row(get_row)[persona]
    elif op == "patch":
        response, wanted = client.patch(detail, PATCHES[endpoint]), row(patch_row)[persona]
    else:
        response, wanted = (
            client.post(f"/api/v1/{endpoint}/", create_payload(endpoint, w)),
            row(post_row)[persona],
        )
    assert classify(response) == wanted, (
        f"{persona} {op} {endpoint}: {response.status_code} {response.content[:300]!r}"
    )
    if op == "patch" and wanted != "O":
        record.refresh_from_db()
        field = next(iter(PATCHES[endpoint]))
        assert getattr(record, field) != PATCHES[endpoint][field]


# endpoint: whether each persona sees the world's records (all owned by rep); the count must
# be that of the model's visible_to(), the web list's queryset.
LIST_SEES = {
    "customers": "U 1 0 1 0 1 1",
    "contacts": "U 1 0 1 0 1 1",
    "interactions": "U 1 0 1 0 1 1",
    "tasks": "U 1 0 1 0 1 1",
    "orders": "U 1 0 1 0 1 1",
    "opportunities": "U 1 0 1 0 1 1",
}


def web_count(endpoint: str, user) -> int:
    from customers.models import Contact, Customer
    from interactions.models import Interaction, Task
    from sales.models import Opportunity, Order

    if endpoint == "contacts":
        return Contact.objects.filter(customer__in=Customer.objects.visible_to(user)).count()
    model = {
        "customers": Customer,
        "interactions": Interaction,
        "tasks": Task,
        "orders": Order,
        "opportunities": Opportunity,
    }[endpoint]
    return model.objects.visible_to(user).count()


@pytest.mark.parametrize("endpoint", list(LIST_SEES))
def test_lists_hold_what_each_persona_may_see(personas, rep, endpoint):
    build_world(rep)
    for persona, wanted in row(LIST_SEES[endpoint]).items():
        response = ApiClient(personas[persona]).get(f"/api/v1/{endpoint}/")
        if wanted == "U":
            assert response.status_code == 401
            assert response["WWW-Authenticate"].startswith("Bearer")
            continue
        assert response.status_code == 200, (persona, response.content[:200])
        count = response.json()["count"]
        assert count == web_count(endpoint, personas[persona]), persona
        assert (count > 0) == (wanted == "1"), persona


@pytest.mark.parametrize(
    ("persona", "wanted"),
    [("rep", 403), ("service", 403), ("other_manager", 404), ("manager", 204), ("admin_user", 204)],
)
def test_deleting_a_customer_needs_the_delete_permission_and_scope(personas, rep, persona, wanted):
    from customers.models import Customer

    w = build_world(rep)
    response = ApiClient(personas[persona]).delete(f"/api/v1/customers/{w.customer.pk}/")
    # Reps may delete their own customers on the web too.
    if persona == "rep":
        wanted = 204
    assert response.status_code == wanted
    deleted = Customer.objects.get(pk=w.customer.pk).deleted_at is not None
    assert deleted == (wanted == 204)


def test_a_customer_in_the_recycle_bin_is_not_found(rep, manager):
    from customers.services import customer_delete

    w = build_world(rep)
    customer_delete(customer=w.customer, user=rep)
    assert ApiClient(rep).get(f"/api/v1/customers/{w.customer.pk}/").status_code == 404
    # Its orders drop out of the team's scope (their owner still sees them, as on the web).
    assert ApiClient(manager).get(f"/api/v1/orders/{w.order.pk}/").status_code == 404
