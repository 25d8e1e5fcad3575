"""Pure rules the daily close adds: price in force, gas factor, segment consumption, texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from solde.prepayment import rules

D = date.fromisoformat
T0 = datetime(2026, 11, 26, 23, tzinfo=UTC)


def test_register_specific_price_wins_over_the_every_register_price():
    prices = [
        ("", D("2026-01-01"), Decimal("0.30")),
        ("", D("2026-06-01"), Decimal("0.32")),
        ("1.8.2", D("2026-03-01"), Decimal("0.20")),
    ]
    assert rules.price_in_force(prices, "1.8.1", D("2026-07-01")) == Decimal("0.32")
    assert rules.price_in_force(prices, "1.8.2", D("2026-07-01")) == Decimal("0.20")
    assert rules.price_in_force(prices, "1.8.2", D("2026-02-28")) == Decimal("0.30")
    assert rules.price_in_force(prices, "1.8.1", D("2025-12-31")) is None


def test_price_changes_on_its_date():
    prices = [("", D("2026-01-01"), Decimal("0.2")), ("", D("2026-11-27"), Decimal("0.4"))]
    assert rules.price_in_force(prices, "1.8.1", D("2026-11-26")) == Decimal("0.2")
    assert rules.price_in_force(prices, "1.8.1", D("2026-11-27")) == Decimal("0.4")


def test_gas_factor_in_force_or_default():
    factors = [(D("2026-01-01"), Decimal("10.9")), (D("2026-07-01"), Decimal("11.1"))]
    assert rules.factor_in_force(factors, D("2026-08-01"), Decimal("10.5")) == Decimal("11.1")
    assert rules.factor_in_force(factors, D("2025-08-01"), Decimal("10.5")) == Decimal("10.5")


def test_segment_consumption_midnight_to_midnight_and_interpolated():
    t1 = T0 + timedelta(days=1)
    assert rules.segment_consumption(T0, t1, ((T0, 100), None), ((t1, 350), None)) == 250
    # start interpolated between 22:00 (100) and 02:00 (500): 100 + 400 × 1/4 = 200
    got = rules.segment_consumption(
        T0,
        t1,
        ((T0 - timedelta(hours=1), 100), (T0 + timedelta(hours=3), 500)),
        ((t1, 1000), None),
    )
    assert got == 800


def test_segment_waits_while_an_end_is_unknown():
    t1 = T0 + timedelta(days=1)
    assert rules.segment_consumption(T0, t1, ((T0, 1), None), ((T0, 1), None)) is None


def test_first_reading_of_a_new_meter_and_final_index_of_a_removed_one():
    swap = T0 + timedelta(hours=14)
    t1 = T0 + timedelta(days=1)
    # new meter: no reading before its installation, first one 15 minutes later
    first = (swap + timedelta(minutes=15), 7)
    assert rules.segment_consumption(swap, t1, (None, first), ((t1, 57), None), True) == 50
    # removed meter: final index before the removal instant, nothing after
    assert (
        rules.segment_consumption(
            T0, swap, ((T0, 0), None), ((swap - timedelta(minutes=5), 9), None), False, True
        )
        == 9
    )


def test_texts_round_half_up_to_three_decimals():
    assert rules.milli_text(6123) == "6.123"
    assert rules.milli_text(-310) == "-0.310"
    assert rules.milli_text(Fraction(2001, 2)) == "1.001"  # 1000.5 thousandths
    assert rules.kwh_text(Fraction(1, 3)) == "0.333"


@given(
    kwh=st.dictionaries(
        st.sampled_from(["1.8.1", "1.8.2"]),
        st.fractions(min_value=0, max_value=200, max_denominator=10**6),
        min_size=1,
    ),
    p1=st.decimals(min_value=0, max_value=2, places=5),
    p2=st.decimals(min_value=0, max_value=2, places=5),
)
def test_daily_charge_is_the_exact_sum_rounded_once(kwh, p1, p2):
    prices = {"1.8.1": p1, "1.8.2": p2}
    exact = sum((Fraction(v) * Fraction(prices[r]) for r, v in kwh.items()), Fraction(0)) * 100
    cents = rules.daily_charge_cents(kwh, prices)
    assert cents - Fraction(1, 2) <= exact < cents + Fraction(1, 2)


@given(
    milli=st.dictionaries(
        st.sampled_from(["1.8.1", "1.8.2"]),
        st.one_of(
            st.integers(min_value=-(10**7), max_value=10**8),
            st.fractions(min_value=-1000, max_value=10**6, max_denominator=900),
        ),
        min_size=1,
    ),
    p1=st.decimals(min_value=0, max_value=2, places=5),
    p2=st.decimals(min_value=0, max_value=2, places=5),
)
def test_charge_on_thousandths_rounds_exactly_like_money(milli, p1, p2):
    from solde.money import eur_to_cents_exact

    prices = {"1.8.1": p1, "1.8.2": p2}
    exact = sum((Fraction(m, 1000) * Fraction(prices[r]) for r, m in milli.items()), Fraction(0))
    assert rules.daily_charge_cents_milli(milli, prices) == eur_to_cents_exact(exact)


def test_half_a_cent_rounds_up_on_thousandths():
    assert rules.daily_charge_cents_milli({"1.8.1": 500}, {"1.8.1": Decimal("0.01")}) == 1
    assert rules.daily_charge_cents_milli({"1.8.1": -500}, {"1.8.1": Decimal("0.01")}) == -1
    assert rules.daily_charge_cents_milli({"1.8.1": 499}, {"1.8.1": Decimal("0.01")}) == 0
