"""One account's closed day as a pure function (rules.close_account_day): what the close's
chunk does per account, without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from solde.prepayment import rules

DAY = date(2026, 11, 27)
TARIFF = [("", date(2026, 1, 1), Decimal("0.25")), ("1.8.2", date(2026, 1, 1), Decimal("0.20"))]


def close(units, **kw):
    args = {
        "energy": "electricity",
        "day": DAY,
        "tariff": TARIFF,
        "gas_factors": [],
        "default_gas_factor": Decimal("10.5"),
        "activation_day": date(2026, 11, 20),
        "advance_outstanding_cents": 1000,
        "recovery_per_day_cents": 100,
        "interrupted": False,
    }
    return rules.close_account_day(units, **{**args, **kw})


def test_a_day_without_its_midnight_index_waits_for_data():
    assert close(None) == rules.Waiting("no_data")


def test_consumption_without_a_price_waits_and_names_the_register():
    out = close({"1.8.1": 1000}, tariff=[("1.8.2", date(2026, 1, 1), Decimal("0.2"))])
    assert out == rules.Waiting("no_price", ("1.8.1",))
    # No consumption on an unpriced register: nothing to wait for.
    assert isinstance(close({"1.8.1": 0}, tariff=[]), rules.ClosedDay)


def test_charge_per_register_rounded_once_and_the_recovery():
    out = close({"1.8.1": 6123, "1.8.2": 2000})
    # 6.123 kWh × 0.25 + 2 kWh × 0.20 = 1.93075 € → 193 cents
    assert (out.charge_cents, out.recovery_cents, out.advance_repaid) == (193, 100, False)
    assert out.details["kwh"] == {"1.8.1": "6.123", "1.8.2": "2.000"}
    assert out.details["prices"] == {"1.8.1": "0.25", "1.8.2": "0.20"}


def test_recovery_pauses_while_interrupted_and_never_on_the_activation_day():
    assert close({"1.8.1": 1000}, interrupted=True).recovery_cents == 0
    assert close({"1.8.1": 1000}, activation_day=DAY).recovery_cents == 0


def test_the_last_recovery_repays_the_advance():
    out = close({"1.8.1": 0}, advance_outstanding_cents=40)
    assert (out.recovery_cents, out.advance_repaid) == (40, True)


def test_gas_is_converted_with_the_factor_in_force():
    out = close(
        {"24.2.3": 2000},
        energy="gas",
        tariff=[("", date(2026, 1, 1), Decimal("0.10"))],
        gas_factors=[(date(2026, 1, 1), Decimal("11")), (date(2026, 12, 1), Decimal("12"))],
    )
    # 2 m³ × 11 kWh/m³ × 0.10 € = 2.20 €
    assert out.charge_cents == 220
    assert out.details["m3"] == {"24.2.3": "2.000"} and out.details["kwh_per_m3"] == "11"
    assert out.details["kwh"] == {"24.2.3": "22.000"}
    exact = close({"1.8.1": Fraction(1, 3)})  # interpolated thousandths stay exact
    assert exact.charge_cents == 0
