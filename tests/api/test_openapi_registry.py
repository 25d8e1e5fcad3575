"""Schemathesis against the served OpenAPI (/api/v1/openapi.json), registry endpoints: whatever
is sent, no 500, and every response (status, content type, body) matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from solde.registry.models import Supplier

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def registry_operations():
    from django.core.wsgi import get_wsgi_application

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    return [result.ok() for result in schema.include(tag="registry").get_all_operations()]


@pytest.fixture
def keep_test_connection():
    """Requests go through the real WSGI app, whose request signals would close the test's
    database connection (and its transaction); Django's test client unhooks them the same way."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_registry_endpoints_follow_their_schema(api_key, frozen, keep_test_connection):
    Supplier.objects.create(code="SUPPLIER-A", name="Supplier A")
    keys = [api_key("registry", "read"), api_key("readings"), "solde_nope_nope"]
    operations = registry_operations()
    assert {op.path for op in operations} >= {
        "/api/v1/suppliers/{code}",
        "/api/v1/tariffs",
        "/api/v1/supply-points/{ean}",
    }
    for operation in operations:

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), key=st.sampled_from(keys))
        def run(case, key):
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        run()
