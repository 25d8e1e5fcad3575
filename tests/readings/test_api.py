"""POST /api/v1/readings (API.md)."""

from __future__ import annotations

import pytest

from solde.readings.models import Reading, RejectedReading

pytestmark = pytest.mark.django_db

URL = "/api/v1/readings"


def test_batch_response_has_the_contract_shape(frozen, make_supply_point, row, api):
    sp = make_supply_point()
    call = api("readings")
    body = {
        "readings": [
            row(sp, "2026-11-28T08:00:00+01:00", "100.000"),
            row(sp, "2026-11-28T08:15:00+01:00", "101.5"),
            row(sp, "2026-11-28T08:15:00+01:00", "101.5"),
            row(sp, "2026-11-28T08:30:00+01:00", "99"),
            row(sp, "2026-11-28T08:45:00", "102"),
        ]
    }
    response = call("post", URL, json=body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == {"accepted", "duplicates", "rejected"}
    assert (data["accepted"], data["duplicates"]) == (2, 1)
    assert [(r["index"], r["reason"]) for r in data["rejected"]] == [
        (3, "index_decrease"),
        (4, "invalid"),
    ]
    assert all(set(r) == {"index", "reason", "detail"} and r["detail"] for r in data["rejected"])
    assert RejectedReading.objects.filter(source__startswith="api:test-readings").count() == 2

    again = call("post", URL, json=body).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert Reading.objects.count() == 2


def test_more_than_10000_readings_is_refused_whole(frozen, make_supply_point, row, api):
    sp = make_supply_point()
    one = row(sp, "2026-11-28T08:00:00+01:00", "1")
    response = api("readings")("post", URL, json={"readings": [one] * 10_001})
    assert response.status_code == 422
    data = response.json()
    assert data["error"] == "validation_error"
    assert data["field"] == "readings"
    assert "at most 10,000" in data["detail"] and "10,001" in data["detail"]
    assert Reading.objects.count() == 0


def test_10000_readings_are_accepted(frozen, make_supply_point, row, api):
    points = [(sp, sp.meters.get().serial) for sp in [make_supply_point() for _ in range(4)]]
    readings = [
        row(
            sp,
            f"2026-11-{day:02d}T{h:02d}:{m:02d}:00+01:00",
            f"{n}.{h:03d}",
            register=reg,
            meter=serial,
        )
        for sp, serial in points
        for reg in ("1.8.1", "1.8.2")
        for n, (day, h, m) in enumerate(
            (d, h, m) for d in range(1, 28) for h in range(24) for m in (0, 15, 30, 45)
        )
        if n < 1250
    ]
    assert len(readings) == 10_000
    response = api("readings")("post", URL, json={"readings": readings})
    assert response.status_code == 200
    assert response.json()["accepted"] == 10_000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "readings"),
        ({"readings": "x"}, "readings"),
        ({"readings": [42]}, "readings.0"),
        ({"readings": [{"value": {"kWh": 1}}]}, "readings.0.value"),
        ({"readings": [{"ean": ["541448800000000017"]}]}, "readings.0.ean"),
        ({"readings": [{"meter": 5437948}]}, "readings.0.meter"),
    ],
)
def test_malformed_body_is_422_naming_the_field(api, body, field):
    response = api("readings")("post", URL, json=body)
    assert response.status_code == 422
    data = response.json()
    assert data["error"] == "validation_error"
    assert data["field"] == field
    assert data["detail"].startswith(field)
    assert Reading.objects.count() == 0


def test_not_json_is_refused(api):
    response = api("readings")("post", URL, data="{oops", content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.json()


def test_no_key_is_401(client):
    response = client.post(URL, data={"readings": []}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_bad_key_is_401(client):
    response = client.post(
        URL,
        data={"readings": []},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer solde_0000_nope",
    )
    assert response.status_code == 401


def test_key_without_the_readings_scope_is_403(api):
    response = api("read", "topups")("post", URL, json={"readings": []})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_meter_exchange_through_the_api(frozen, make_supply_point, api):
    sp = make_supply_point(registers=["1.8.1"])
    old = sp.meters.get().serial
    call = api("registry")
    body = {
        "old_meter": old,
        "new_meter": "API-NEW",
        "at": "2026-11-28T10:00:00+01:00",
        "final_indexes": {"1.8.1": "42.125"},
        "start_indexes": {"1.8.1": "0"},
    }
    url = f"/api/v1/supply-points/{sp.ean}/meter-exchange"
    first = call("post", url, json=body)
    assert first.status_code == 201, first.content
    assert first.json()["registers"] == ["1.8.1"]
    again = call("post", url, json=body)  # a retry: the same exchange, 200
    assert again.status_code == 200
    assert Reading.objects.count() == 2
    wrong = call("post", url, json={**body, "new_meter": "OTHER"})
    assert wrong.status_code == 422
    assert "déjà été retiré" in wrong.json()["detail"]
    missing = call("post", "/api/v1/supply-points/541448800000000017/meter-exchange", json=body)
    assert missing.status_code == 404
    assert api("readings")("post", url, json=body).status_code == 403
