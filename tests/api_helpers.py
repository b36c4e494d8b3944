"""Helpers of the REST API tests: a token client and a small world of records owned by `rep`."""

import json
from types import SimpleNamespace

from django.test import Client

from core.api_auth import api_token_create


class ApiClient:
    """A test client that sends JSON with `Authorization: Bearer <token>` (None: no header)."""

    def __init__(self, user=None, *, language: str = "en"):
        self.client = Client()
        self.headers = {"HTTP_ACCEPT_LANGUAGE": language}
        if user is not None:
            _, raw = api_token_create(user=user, name="tests")
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"

    def get(self, path, params=None, **extra):
        return self.client.get(path, params or {}, **{**self.headers, **extra})

    def _send(self, method, path, data, **extra):
        return getattr(self.client, method)(
            path, json.dumps(data), content_type="application/json", **{**self.headers, **extra}
        )

    def post(self, path, data=None, **extra):
        return self._send("post", path, data or {}, **extra)

    def patch(self, path, data=None, **extra):
        return self._send("patch", path, data or {}, **extra)

    def put(self, path, data=None, **extra):
        return self._send("put", path, data or {}, **extra)

    def delete(self, path, **extra):
        return self.client.delete(path, **{**self.headers, **extra})


def build_world(rep) -> SimpleNamespace:
    from customers.tests.factories import CustomerFactory, make_contact
    from interactions.tests.factories import make_interaction, make_task
    from sales.models import Order
    from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order, make_product

    w = SimpleNamespace()
    w.stages = ensure_default_pipeline()
    w.customer = CustomerFactory(owner=rep, name="张三丰", mobile="13812345678", email="zhang@example.com")
    w.contact = make_contact(w.customer, phone="13900001111")
    w.interaction = make_interaction(w.customer, rep)
    w.task = make_task(rep, w.customer)
    w.product = make_product()
    w.order = make_order(w.customer, rep, status=Order.Status.PENDING)
    w.opportunity = make_opportunity(w.customer, rep)
    return w
