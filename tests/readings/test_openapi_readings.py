"""Schemathesis against the served OpenAPI, readings endpoints: whatever is sent, no 500, and
every response matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_openapi_registry import CHECKS


@pytest.fixture
def keep_test_connection():
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_readings_endpoints_follow_their_schema(
    api_key, frozen, make_supply_point, keep_test_connection
):
    from django.core.wsgi import get_wsgi_application

    make_supply_point()
    keys = [api_key("readings", "registry"), api_key("read"), "solde_nope_nope"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operations = [r.ok() for r in schema.include(tag="readings").get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/v1/readings",
        "/api/v1/supply-points/{ean}/meter-exchange",
    }
    for operation in operations:

        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(), key=st.sampled_from(keys))
        def run(case, key):
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        run()
