"""GET /api/v1/supply-points/{ean}/orders (API.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from solde import clock
from solde.orders.services import request_order

pytestmark = pytest.mark.django_db


def test_orders_of_a_supply_point_newest_first(api, make_supply_point, monday):
    sp = make_supply_point()
    other = make_supply_point()
    meter = sp.meters.get()
    first = request_order(meter.pk, "display_balance", "daily display after the close")
    clock.advance(timedelta(minutes=5))
    second = request_order(meter.pk, "reconnect", "top-up brought the balance to 3.00 €")
    request_order(other.meters.get().pk, "read_now", "not this one")

    response = api("read")("get", f"/api/v1/supply-points/{sp.ean}/orders")
    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body] == [second.pk, first.pk]
    assert body[0] == body[0] | {
        "kind": "reconnect",
        "status": "created",
        "attempts": 0,
        "reason": "top-up brought the balance to 3.00 €",
        "created_at": "2026-11-30T10:05:00+01:00",
        "updated_at": "2026-11-30T10:05:00+01:00",
    }
    assert set(body[0]) >= {
        "id",
        "kind",
        "status",
        "created_at",
        "updated_at",
        "attempts",
        "reason",
    }


def test_orders_need_the_read_scope_and_a_known_ean(api, make_supply_point, client):
    sp = make_supply_point()
    assert client.get(f"/api/v1/supply-points/{sp.ean}/orders").status_code == 401
    forbidden = api("topups")("get", f"/api/v1/supply-points/{sp.ean}/orders")
    assert forbidden.status_code == 403
    missing = api("read")("get", "/api/v1/supply-points/541448800000000017/orders")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert "541448800000000017" in missing.json()["detail"]
