"""Issue 11 point 8: a value of another JSON type is never coerced into a date, an instant, a
flag or an amount (`"valid_from": 0` was read as 1970-01-01, `"date": 0` closed 1970-01-01).
Each is refused with a 422 in API.md's error shape naming the field, and nothing is written."""

from __future__ import annotations

import pytest

from solde.prepayment.models import CloseRun, PrepaymentAccount
from solde.registry.models import SupplyPoint, Tariff
from solde.topups.models import Topup
from tests.prepayment.helpers import activated, midnight

pytestmark = pytest.mark.django_db

TARIFF = {
    "dso": "RESA",
    "energy": "electricity",
    "category": "social",
    "register": "1.8.1",
    "valid_from": "2026-01-01",
    "price_eur_per_kwh": "0.23441",
}


def refused(response, field: str) -> dict:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["field"] == field
    assert body["detail"].startswith(f"{field}: ")
    return body


@pytest.mark.parametrize(
    "value",
    [0, 1_700_000_000, 20260101, "1700000000", True, None, "2026-01-01T00:00:00", "01/01/2026"],
)
def test_a_tariff_date_must_be_a_date_string(api, value):
    put = api("registry")
    body = refused(put("put", "/api/v1/tariffs", {**TARIFF, "valid_from": value}), "valid_from")
    assert "YYYY-MM-DD" in body["detail"]
    assert not Tariff.objects.filter(category="social").exists()


def test_valid_from_zero_is_refused_as_a_number(api):
    body = refused(
        api("registry")("put", "/api/v1/tariffs", {**TARIFF, "valid_from": 0}), "valid_from"
    )
    assert body["detail"] == 'valid_from: must be a date as text, "YYYY-MM-DD", not a number'


@pytest.mark.parametrize("value", [0.23441, "０.２３４４１", "2.3441e-1", " 0.23441", "0,23441"])
def test_a_price_must_be_a_decimal_string_in_ascii_digits(api, value):
    put = api("registry")
    refused(
        put("put", "/api/v1/tariffs", {**TARIFF, "price_eur_per_kwh": value}), "price_eur_per_kwh"
    )
    assert not Tariff.objects.filter(category="social").exists()


def test_a_well_formed_tariff_is_still_accepted(api):
    response = api("registry")("put", "/api/v1/tariffs", TARIFF)
    assert response.status_code == 201, response.content
    assert str(Tariff.objects.get(category="social").valid_from) == "2026-01-01"


@pytest.fixture
def account(make_supply_point, frozen):
    sp = make_supply_point()
    return activated(sp, midnight("2026-11-25"))


@pytest.mark.parametrize(
    "value", [0, 20261127, "1700000000", False, ["2026-11-27"], "2026-11-27T00:00"]
)
def test_the_close_date_must_be_a_date_string(api, account, value):
    response = api("operations")("post", "/api/v1/close", {"date": value})
    refused(response, "date")
    assert not CloseRun.objects.exists()
    assert PrepaymentAccount.objects.get(pk=account.pk).last_closed_day is None


def test_close_date_zero_closes_nothing(api, account):
    body = refused(api("operations")("post", "/api/v1/close", {"date": 0}), "date")
    assert "not a number" in body["detail"]
    assert not CloseRun.objects.exists()


def test_a_well_formed_close_still_closes(api, account, make_tariff):
    make_tariff("0.25")
    response = api("operations")("post", "/api/v1/close", {"date": "2026-11-26"})
    assert response.status_code == 200, response.content
    assert CloseRun.objects.filter(day="2026-11-26").exists()


SUPPLY_POINT = {
    "dso": "RESA",
    "energy": "electricity",
    "supplier": "SUPPLIER-A",
    "tariff_category": "average",
    "customer": {"last_name": "Dupont"},
    "meter": {"serial": "S-STRICT-1", "registers": ["1.8.1"]},
}
EAN = "541448800000000017"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"protected": "yes"}, "protected"),
        ({"protected": 1}, "protected"),
        ({"protected": "true"}, "protected"),
        ({"meter": {**SUPPLY_POINT["meter"], "installed_at": 0}}, "meter.installed_at"),
        (
            {"meter": {**SUPPLY_POINT["meter"], "installed_at": "2026-11-28T08:00:00"}},
            "meter.installed_at",
        ),
    ],
)
def test_supply_point_flags_and_instants_are_not_coerced(api, change, field):
    from solde.registry.models import Supplier

    Supplier.objects.create(code="SUPPLIER-A", name="A")
    response = api("registry")("put", f"/api/v1/supply-points/{EAN}", {**SUPPLY_POINT, **change})
    refused(response, field)
    assert not SupplyPoint.objects.filter(ean=EAN).exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"at": 1_764_316_800}, "at"),
        ({"at": "2026-11-28T08:00:00"}, "at"),
        ({"final_indexes": {"1.8.1": 42.125}}, "final_indexes.1.8.1"),
        ({"final_indexes": {"1.8.1": "４２"}}, "final_indexes.1.8.1"),
        ({"start_indexes": {"1.8.1": "1e3"}}, "start_indexes.1.8.1"),
    ],
)
def test_a_meter_exchange_takes_instants_and_index_strings_only(
    api, make_supply_point, frozen, change, field
):
    sp = make_supply_point(serial="OLD-1", registers=["1.8.1"])
    body = {
        "old_meter": "OLD-1",
        "new_meter": "NEW-1",
        "at": "2026-11-28T08:00:00+01:00",
        "final_indexes": {"1.8.1": "42.125"},
        "start_indexes": {"1.8.1": "0"},
        **change,
    }
    response = api("registry")("post", f"/api/v1/supply-points/{sp.ean}/meter-exchange", body)
    refused(response, field)
    assert not sp.meters.filter(serial="NEW-1").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"now": 0}, "now"),
        ({"now": "1764316800"}, "now"),
        ({"now": "2026-11-30T08:00:00"}, "now"),
        ({"speed": "2"}, "speed"),
        ({"speed": True}, "speed"),
    ],
)
def test_the_simulation_clock_takes_an_instant_and_a_number(api, settings, change, field):
    from solde.models import SimulatedClock

    settings.SIMULATION = True
    before = list(SimulatedClock.objects.values())
    body = {"now": "2026-11-30T08:00:00+01:00", "speed": 1, **change}
    refused(api("operations")("post", "/api/v1/clock", body), field)
    assert list(SimulatedClock.objects.values()) == before


@pytest.mark.parametrize("amount", [20, 20.0, "２０.００", "20.000", "+20", "1e1"])
def test_a_topup_amount_is_a_decimal_string(partner_api, active_sp, amount):
    sp = active_sp
    response = partner_api()(
        "post",
        "/api/v1/topups",
        {
            "reference": sp.customer_reference,
            "amount": amount,
            "channel": "retail",
            "partner_transaction_id": "strict-1",
        },
    )
    refused(response, "amount")
    assert not Topup.objects.exists()


def test_unreadable_json_is_a_422_in_the_error_shape(api):
    response = api("registry")(
        "put",
        "/api/v1/tariffs",
        None,
        data='{"dso": "RESA",',
        content_type="application/json",
    )
    body = refused(response, "body")
    assert set(body) == {"error", "detail", "field"}
    assert not Tariff.objects.exists()
