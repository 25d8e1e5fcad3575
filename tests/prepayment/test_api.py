"""Balance, statement, close and clock endpoints (API.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from solde import clock
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import credit
from tests.prepayment.helpers import activated, add_readings, meter_of, midnight

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_supply_point, make_tariff, frozen):
    make_tariff("0.25")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-25"))
    m = meter_of(sp)
    add_readings(m, "1.8.1", [(midnight(f"2026-11-{d}"), (d - 25) * 6123) for d in (25, 26, 27)])
    add_readings(m, "1.8.2", [(midnight(f"2026-11-{d}"), (d - 25) * 2000) for d in (25, 26, 27)])
    return sp, acc


def test_close_then_balance_and_statement(api, account):
    sp, acc = account
    ops, read = api("operations"), api("read")
    r = ops("post", "/api/v1/close", json={"date": "2026-11-26"})
    assert r.status_code == 200, r.content
    assert r.json() == {
        "date": "2026-11-26",
        "closed": 2,
        "waiting_for_data": 0,
        "waiting_for_price": 0,
    }
    again = ops("post", "/api/v1/close", json={"date": "2026-11-26"}).json()
    assert again["closed"] == 0

    b = read("get", f"/api/v1/supply-points/{sp.ean}/balance").json()
    # 10 € advance − 2.03 − 2.03 − 1.00 recovery
    assert b["balance"] == "4.94"
    assert b["advance_outstanding"] == "9.00"
    assert b["emergency_credit_limit"] == "12.00"
    assert b["emergency_credit_remaining"] == "12.00"
    assert b["state"] == "active" and b["supply"] == "connected"
    assert b["last_closed_day"] == "2026-11-26"
    assert b["low_credit"] is True
    assert isinstance(b["days_left"], float)
    assert b["last_update"].endswith("+01:00")

    lines = read(
        "get", f"/api/v1/supply-points/{sp.ean}/statement?from=2026-11-20&to=2026-11-30"
    ).json()
    assert [(x["kind"], x["amount"], x["balance_after"]) for x in lines] == [
        ("advance", "10.00", "10.00"),
        ("charge", "-2.03", "7.97"),
        ("charge", "-2.03", "5.94"),
        ("advance_recovery", "-1.00", "4.94"),
    ]
    assert lines[1]["kwh"] == {"1.8.1": "6.123", "1.8.2": "2.000"}
    assert lines[1]["day"] == "2026-11-25"
    assert "kwh" not in lines[0] and lines[0]["day"] is None


def test_statement_balance_after_starts_from_the_opening_balance(api, account):
    sp, acc = account
    later = clock.now() + timedelta(hours=1)
    credit(acc, 500, key="t1", kind="topup", counter_account_id=acc.advance_account_id, at=later)
    lines = api("read")(
        "get", f"/api/v1/supply-points/{sp.ean}/statement?from=2026-11-28&to=2026-11-28"
    ).json()
    assert [(x["amount"], x["balance_after"]) for x in lines] == [("5.00", "15.00")]


def test_statement_bad_dates_are_422(api, account):
    sp, _ = account
    read = api("read")
    r = read("get", f"/api/v1/supply-points/{sp.ean}/statement?from=2026-13-01")
    assert r.status_code == 422 and r.json()["field"] == "from"
    r = read("get", f"/api/v1/supply-points/{sp.ean}/statement?from=2026-11-05&to=2026-11-01")
    assert r.status_code == 422


def test_unknown_ean_is_404(api, frozen, db):
    read = api("read")
    assert read("get", "/api/v1/supply-points/541448800000000017/balance").status_code == 404
    assert read("get", "/api/v1/supply-points/541448800000000017/statement").status_code == 404
    r = api("operations")("post", "/api/v1/close", json={"date": "2026-11-26", "ean": "5414"})
    assert r.status_code == 404


def test_auth_paths(client, api, account):
    sp, _ = account
    assert client.get(f"/api/v1/supply-points/{sp.ean}/balance").status_code == 401
    r = api("readings")("get", f"/api/v1/supply-points/{sp.ean}/balance")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert api("read")("post", "/api/v1/close", json={"date": "2026-11-26"}).status_code == 403


def test_close_validation(api, account):
    ops = api("operations")
    r = ops("post", "/api/v1/close", json={"date": "2026-11-28"})  # today: not over
    assert r.status_code == 422 and "not over" in r.json()["detail"]
    assert ops("post", "/api/v1/close", json={"date": "yesterday"}).status_code == 422
    assert DayCharge.objects.count() == 0


def test_clock_is_404_when_simulation_is_off(api, settings, db):
    settings.SIMULATION = False
    r = api("operations")("post", "/api/v1/clock", json={"now": "2026-11-30T08:00:00+01:00"})
    assert r.status_code == 404


def test_clock_moves_forward_and_runs_the_closes_in_between(
    api, settings, make_supply_point, make_tariff
):
    settings.SIMULATION = True
    clock.set_simulated(datetime(2026, 11, 25, 12, 0, tzinfo=clock.BRUSSELS))
    make_tariff("0.25")
    sp = make_supply_point()
    activated(sp, midnight("2026-11-25"))
    m = meter_of(sp)
    add_readings(m, "1.8.1", [(midnight(f"2026-11-{d}"), (d - 25) * 4000) for d in range(25, 30)])
    add_readings(m, "1.8.2", [(midnight(f"2026-11-{d}"), 0) for d in range(25, 30)])
    ops = api("operations")
    r = ops("post", "/api/v1/clock", json={"now": "2026-11-28T06:00:00+01:00"})
    assert r.status_code == 200, r.content
    assert r.json()["jobs_run"] >= 3  # 05:00 on the 26th, 27th and 28th
    acc = PrepaymentAccount.objects.get(supply_point=sp)
    assert acc.last_closed_day == date(2026, 11, 27)
    assert DayCharge.objects.count() == 3

    r = ops("post", "/api/v1/clock", json={"now": "2026-11-27T06:00:00+01:00"})
    assert r.status_code == 422 and "cannot go back" in r.json()["detail"]
    r = ops("post", "/api/v1/clock", json={"now": "2026-11-29T06:00:00"})
    assert r.status_code == 422
