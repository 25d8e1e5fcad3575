"""NUL characters (a file import can hold them) are rejected per row, never a server error."""

import pytest

from solde.readings.models import RejectedReading
from solde.readings.services import ingest, ingest_rows

pytestmark = pytest.mark.django_db


def test_a_nul_character_is_refused_as_invalid(frozen, make_supply_point):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    base = {
        "ean": sp.ean,
        "meter": serial,
        "register": "1.8.1",
        "at": "2026-11-28T00:00:00+01:00",
        "value": "1.000",
        "unit": "kWh",
    }
    rows = [
        {**base, "meter": serial + "\x00"},
        {**base, "ean": "\x00"},
        {**base, "at": "2026-11-28T00:00:00\x00+01:00"},
        base,
    ]
    result = ingest(rows, source="test")
    assert result.accepted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [
        (0, "invalid"),
        (1, "invalid"),
        (2, "invalid"),
    ]


def test_a_nul_after_an_instant_inside_a_run_is_refused_and_kept_for_review(
    frozen, make_supply_point
):
    # The refusal's sentence quotes the instant: kept for review without the NUL (PostgreSQL
    # text cannot hold one), not a server error.
    sp = make_supply_point()
    serial = sp.meters.get().serial
    row = (sp.ean, serial, "1.8.1", "2026-11-28T11:00:00+01:00", "1.000", "kWh")
    bad = (*row[:3], "2026-11-28T11:15:00+01:00\x00", *row[4:])
    result = ingest_rows([row, bad], "file:test")
    assert result.accepted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "invalid")]
    kept = RejectedReading.objects.get()
    assert "\x00" not in kept.detail and "\x00" not in kept.at


def test_the_api_refuses_a_batch_holding_nul(api, frozen, make_supply_point):
    sp = make_supply_point()
    row = {
        "ean": sp.ean,
        "meter": sp.meters.get().serial + "\x00",
        "register": "1.8.1",
        "at": "2026-11-28T00:00:00+01:00",
        "value": "1.000",
        "unit": "kWh",
    }
    response = api("readings")("POST", "/api/v1/readings", json={"readings": [row]})
    assert response.status_code == 422
    assert response.json()["field"] == "readings.0.meter"
