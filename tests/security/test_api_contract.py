"""Issue 11 point 8: the v1 API is what its OpenAPI document says, on every operation of every
router. Schemathesis runs its phases as its command line does — the document's examples, the
coverage phase (each field's boundaries and each field of the wrong type or missing, one at a
time, the rest valid: how `"valid_from": 0` was found) and random fuzzing, with valid and invalid
data — and sends each request through the real WSGI application with a key holding every scope
(most calls, so they reach the handlers), a key of each scope alone and a bogus key. Every
response must be no server error, a status the operation documents, JSON, and a body that
matches the documented schema; invalid input must be refused (4xx).

Bounded for the test suite: a fixed seed and a fixed number of fuzzed examples per operation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from solde import clock
from solde.api.api import api
from solde.api.errors import COMMON_ERRORS
from solde.api.keys import create_key
from solde.api.models import Scope
from solde.topups import services as topups
from solde.topups.models import Partner
from tests.prepayment.helpers import activated, midnight

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZED = 15  # random examples per operation, after the examples and coverage phases
SEED = 20261130
ROUTERS = {"registry", "readings", "prepayment", "topups", "orders"}


def _document() -> dict:
    return api.get_openapi_schema()


OPERATIONS = sorted(
    (method.upper(), path) for path, methods in _document()["paths"].items() for method in methods
)

# The document as served (the same object /api/v1/openapi.json renders), called through WSGI.
schema = schemathesis.openapi.from_dict(_document())
schema.app = get_wsgi_application()
schema.config.seed = SEED
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=FUZZED
)


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


@dataclass
class World:
    ean: str
    reference: str
    meter: str
    topup_id: int
    keys: Iterator[str]
    known: Iterator[bool]


@pytest.fixture
def world(make_supply_point, make_tariff, settings) -> Iterator[World]:
    """An active account with a price and a partner's top-up, two days later (so closing a day
    works); keys: all scopes (a retail partner), each scope alone, and a key that does not
    exist."""
    settings.SIMULATION = False  # the clock answers 404: nothing moves the platform's clock
    with clock.freeze(datetime(2026, 11, 30, 12, 0, tzinfo=clock.BRUSSELS)):
        sp = make_supply_point(serial="CONTRACT-1")
        activated(sp, midnight("2026-11-27"))
        make_tariff("0.25")
        everything, full = create_key("contract-all", Scope.values, "retail")
        partner = Partner.objects.get(api_key=everything)
        topup = topups.partner_topup(partner, sp.customer_reference, "20.00", "retail", "c-1").topup
        alone = [create_key(f"contract-{s}", [s])[1] for s in Scope.values]
        # In turn, deterministic: the full key every other call, each other key in between.
        keys = [k for other in [*alone, "solde_nope_nope"] for k in (full, other)]
        yield World(
            ean=sp.ean,
            reference=sp.customer_reference,
            meter="CONTRACT-1",
            topup_id=topup.pk,
            keys=itertools.cycle(keys),
            known=itertools.cycle([True, True, False]),
        )


def test_every_router_is_fuzzed():
    tags = {
        tag
        for methods in _document()["paths"].values()
        for op in methods.values()
        for tag in op.get("tags", [])
    }
    assert tags == ROUTERS
    assert len(OPERATIONS) >= 17
    assert {(op.method.upper(), op.path) for op in _schema_operations()} == set(OPERATIONS)


def _schema_operations():
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_every_status_is_documented_with_the_error_shape(method, path):
    """401, 403, 413 and 422 can come from any operation (key, scope, body size, input); each
    error status points at the API.md error shape."""
    doc = _document()
    responses = doc["paths"][path][method.lower()]["responses"]
    assert set(COMMON_ERRORS) <= {int(s) for s in responses}
    for status, response in responses.items():
        if int(status) >= 400:
            ref = response["content"]["application/json"]["schema"]["$ref"]
            shape = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert {"error", "detail"} <= set(shape["required"]), (method, path, status)
    assert "400" not in responses  # unreadable JSON is a 422 like any invalid input


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_follows_its_contract(case, world, keep_test_connection):
    if next(world.known) and case.meta and case.meta.generation.mode.is_positive:
        # Every other valid case uses identifiers that exist: the handlers' deeper paths run
        # too. (Never an invalid case: a replaced value could make it valid.)
        params = case.path_parameters or {}
        if "ean" in params:
            params["ean"] = world.ean
        if "topup_id" in params:
            params["topup_id"] = world.topup_id
        body = case.body if isinstance(case.body, dict) else {}
        for field, value in (
            ("reference", world.reference),
            ("channel", "retail"),  # the full key's partner collects for this channel
            ("old_meter", world.meter),
        ):
            if field in body:
                body[field] = value
        if isinstance(case.query, dict) and "reference" in case.query:
            case.query["reference"] = world.reference
    key = next(world.keys)
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
