"""Hostile or absurd input from outside gets a clear answer and writes nothing — never a 500."""

from __future__ import annotations

import csv
import io
import json

import pytest

from solde.api.models import ApiKey
from solde.topups.models import Topup, WebhookCall

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_exception_propagation(client):
    """Answer as the server would: a crash is a 500 response, not an exception in the test."""
    client.raise_request_exception = False


def test_a_deeply_nested_json_body_is_a_422_not_a_recursion_error(api):
    body = "[" * 100_000 + '"\\u0000"' + "]" * 100_000
    r = api("registry")("PUT", "/api/v1/suppliers/DEEP", data=body, content_type="application/json")
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error" and "nested" in r.json()["detail"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("to=9999-12-31", "to"),
        ("from=0001-01-01&to=0001-01-31", "from"),
        ("from=1900-01-01", "from"),
    ],
)
def test_extreme_dates_in_the_statement_are_refused(api, active_sp, query, field):
    sp = active_sp
    r = api("read")("GET", f"/api/v1/supply-points/{sp.ean}/statement?{query}")
    assert r.status_code == 422
    assert r.json()["field"] == field and "2000-01-01" in r.json()["detail"]


def test_a_body_over_the_limit_is_a_413_in_the_api_error_shape(api, settings):
    settings.MAX_BODY_BYTES = 1024 * 1024
    r = api("registry")("PUT", "/api/v1/suppliers/BIG", json={"name": "x" * 2_000_000})
    assert r.status_code == 413
    assert r["Content-Type"].startswith("application/json")
    assert r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    "path",
    ["/topups/webhook/", "/login/?next=%00", "/admin/login/?next=/admin/%00", "/%00"],
)
def test_a_nul_character_outside_the_api_is_a_400(client, path):
    if path.startswith("/topups"):
        r = client.post(path, data={"id": "tr_\x00x"})
    else:
        r = client.get(path)
    assert r.status_code == 400
    assert not WebhookCall.objects.exists()


def test_unknown_webhook_ids_are_not_stored(client, fake_provider):
    for i in range(50):
        r = client.post("/topups/webhook/", data={"id": f"tr_flood{i}"})
        assert r.status_code == 200 and r.content == b"unknown"
    assert WebhookCall.objects.count() == 0


@pytest.mark.parametrize("amount", ["２０.００", "٢٠.٠٠", "2０.00"])
def test_amounts_in_non_ascii_digits_are_refused(active_sp, partner_api, amount):
    sp = active_sp
    shop = partner_api()
    r = shop(
        "post",
        "/api/v1/topups",
        json={
            "reference": sp.customer_reference,
            "amount": amount,
            "channel": "retail",
            "partner_transaction_id": "u-1",
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "amount"
    assert not Topup.objects.exists()


def test_a_partner_key_without_a_channel_collects_nothing(active_sp, client):
    from solde.api.keys import create_key

    sp = active_sp
    _, plaintext = create_key("no channel yet", ["topups"])
    for channel in ("terminal", "retail", "cpas"):
        r = client.post(
            "/api/v1/topups",
            data=json.dumps(
                {
                    "reference": sp.customer_reference,
                    "amount": "20.00",
                    "channel": channel,
                    "partner_transaction_id": f"c-{channel}",
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        )
        assert r.status_code == 403
    assert not Topup.objects.exists()


def test_an_api_key_shows_when_it_was_last_used(api_key, client, frozen):
    plaintext = api_key("read")
    key = ApiKey.objects.get(prefix=plaintext.split("_")[1])
    assert key.last_used_at is None
    r = client.get("/api/v1/tariffs", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert r.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == frozen


def test_a_formula_in_a_partner_transaction_id_is_inert_in_the_settlement_csv(
    active_sp,
    partner_api,
):
    from solde import clock
    from solde.settlement import services

    sp = active_sp
    hostile = '=HYPERLINK("http://example.invalid","x")'
    r = partner_api()(
        "post",
        "/api/v1/topups",
        json={
            "reference": sp.customer_reference,
            "amount": "20.00",
            "channel": "retail",
            "partner_transaction_id": hostile,
        },
    )
    assert r.status_code == 201
    stmt = services.settle("week", clock.today()).statements[0]
    rows = list(csv.DictReader(io.StringIO(services.export_csv(stmt))))
    cells = [v for row in rows for v in row.values()]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert any(c == "'" + hostile or c.endswith(hostile) for c in cells)
