from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from solde.prepayment import rules


def test_index_at_reading_exactly_at_the_instant():
    t = datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert rules.index_at(t, (t, 1000), None) == 1000


def test_index_is_interpolated_in_time_across_a_gap():
    t0 = datetime(2026, 11, 27, 20, tzinfo=UTC)
    t1 = datetime(2026, 11, 28, 2, tzinfo=UTC)
    midnight = datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert rules.index_at(midnight, (t0, 1000), (t1, 1600)) == 1300


def test_index_unknown_without_a_reading_after():
    t0 = datetime(2026, 11, 27, 20, tzinfo=UTC)
    assert rules.index_at(t0 + timedelta(hours=3), (t0, 1000), None) is None


def test_daily_charge_rounds_once_half_up():
    # 1.5 kWh × 0.23441 + 0.5 kWh × 0.17 = 0.351615 + 0.085 = 0.436615 € → 44 cents
    cents = rules.daily_charge_cents(
        {"1.8.1": Fraction(3, 2), "1.8.2": Fraction(1, 2)},
        {"1.8.1": Decimal("0.23441"), "1.8.2": Decimal("0.17")},
    )
    assert cents == 44
    # exactly half a cent rounds up
    assert rules.daily_charge_cents({"1.8.1": Fraction(1, 2)}, {"1.8.1": Decimal("0.01")}) == 1


def test_recovery_ends_at_exactly_zero_outstanding():
    assert rules.recovery_cents(100, 100, False) == 100
    assert rules.recovery_cents(40, 100, False) == 40
    assert rules.recovery_cents(0, 100, False) == 0
    assert rules.recovery_cents(500, 100, True) == 0


def test_emergency_credit_limits():
    assert rules.emergency_remaining_cents(500, 1200) == 1200
    assert rules.emergency_remaining_cents(-300, 1200) == 900
    assert rules.emergency_remaining_cents(-1500, 1200) == 0
    assert rules.credit_state(0, 1200) == "ok"
    assert rules.credit_state(-1, 1200) == "emergency"
    assert rules.credit_state(-1199, 1200) == "emergency"
    assert rules.credit_state(-1200, 1200) == "exhausted"


def test_days_left_and_low_credit():
    left = rules.days_left(1000, 1200, [200, 200])  # (10 + 12) / 2
    assert left == Decimal("11.0")
    assert rules.days_left(1000, 1200, []) is None
    assert rules.days_left(1000, 1200, [0, 0]) is None
    policy = rules.LowCreditPolicy(threshold_cents=1000, days=3)
    assert not rules.is_low(1000, left, policy)
    assert rules.is_low(999, None, policy)
    assert rules.is_low(5000, Decimal("2.9"), policy)
