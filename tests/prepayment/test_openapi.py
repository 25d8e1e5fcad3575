"""Schemathesis against the served OpenAPI, prepayment endpoints (balance, statement, close,
clock): whatever is sent, no 500, and every response matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.prepayment.helpers import activated, midnight

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection():
    """The WSGI app's request signals would close the test's connection (and transaction)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_prepayment_endpoints_follow_their_schema(
    api_key, frozen, keep_test_connection, make_supply_point, settings
):
    from django.core.wsgi import get_wsgi_application

    settings.SIMULATION = False  # the clock endpoint answers 404: nothing moves the clock
    sp = make_supply_point(ean=None)
    activated(sp, midnight("2026-11-27"))
    keys = [api_key("read", "operations"), api_key("readings"), "solde_nope_nope"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operations = [r.ok() for r in schema.include(tag="prepayment").get_all_operations()]
    assert {op.path for op in operations} >= {
        "/api/v1/supply-points/{ean}/balance",
        "/api/v1/supply-points/{ean}/statement",
        "/api/v1/close",
        "/api/v1/clock",
    }
    for operation in operations:

        @settings_(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(), key=st.sampled_from(keys), known=st.booleans())
        def run(case, key, known):
            if known and case.path_parameters and "ean" in case.path_parameters:
                case.path_parameters["ean"] = sp.ean
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        run()
