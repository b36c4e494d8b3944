"""Schema-driven tests of the REST API (schemathesis): every operation of the OpenAPI schema,
called with generated input by an admin over a small seeded dataset, never answers 5xx, and
answers only documented status codes, content types and bodies that match the schema."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.api_auth import api_token_create
from tests.api_helpers import build_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_schema_describes_every_endpoint(rep, client):
    client.force_login(rep)
    response = client.get("/api/v1/schema/?format=json", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"] if response["Content-Type"].endswith("json") else None
    if paths is None:
        import yaml

        paths = yaml.safe_load(response.content)["paths"]
    for name in ("customers", "contacts", "interactions", "tasks", "orders", "opportunities"):
        assert f"/api/v1/{name}/" in paths and f"/api/v1/{name}/{{id}}/" in paths
    assert "get" in paths["/api/v1/customers/"] and "post" in paths["/api/v1/customers/"]
    assert "delete" not in paths["/api/v1/orders/{id}/"]  # orders are cancelled, not deleted


def test_the_schema_needs_credentials(client):
    assert client.get("/api/v1/schema/").status_code == 401


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler inside the test's transaction: as the test client does, keep the
    handler from closing the database connection at the end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_generated_requests_keep_to_the_schema(rep, admin_user, method, wsgi_app):
    build_world(rep)
    _, raw = api_token_create(user=admin_user, name="schemathesis")
    headers = {"Authorization": f"Bearer {raw}", "Accept-Language": "en"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.method.upper() == method]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        call()
