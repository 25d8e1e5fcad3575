"""Pure prepayment rules (RULES.md §3–§6): no database, exact arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from solde.money import round_half_up

_MICROSECOND = timedelta(microseconds=1)


def index_at(
    t: datetime,
    before: tuple[datetime, int] | None,
    after: tuple[datetime, int] | None,
) -> Fraction | int | None:
    """The index at instant t: the reading at t, else the linear interpolation in time between
    the nearest readings before and after. None when it is not known yet. Exact: an int when a
    reading falls on t (the common case, and cheap), a Fraction when interpolated."""
    if before and before[0] == t:
        return before[1]
    if after and after[0] == t:
        return after[1]
    if not before or not after:
        return None
    (t0, v0), (t1, v1) = before, after
    # Whole microseconds, not float seconds: the interpolation stays exact.
    span = (t1 - t0) // _MICROSECOND
    return Fraction(v0) + Fraction(v1 - v0) * Fraction((t - t0) // _MICROSECOND, span)


def daily_charge_cents(
    energy_by_register: Mapping[str, Fraction | int], price_by_register: Mapping[str, Decimal]
) -> int:
    """Σ over registers of (kWh × €/kWh), exact, rounded once to the cent half up."""
    return daily_charge_cents_milli(
        {r: Fraction(kwh) * 1000 for r, kwh in energy_by_register.items()}, price_by_register
    )


def daily_charge_cents_milli(
    milli_kwh_by_register: Mapping[str, Fraction | int], price_by_register: Mapping[str, Decimal]
) -> int:
    """The same rule on thousandths of kWh (what meters count): exact integer-ratio arithmetic,
    as exact as Fractions and much cheaper, rounded once to the cent half up."""
    num, den = 0, 1
    for reg, milli in milli_kwh_by_register.items():
        kn, kd = milli.as_integer_ratio()
        pn, pd = price_by_register[reg].as_integer_ratio()
        num, den = num * kd * pd + kn * pn * den, den * kd * pd
    # cents = num / den (€·1000) × 100 / 1000 = num / (10 × den), rounded half away from zero
    q, r = divmod(abs(num), 10 * den)
    if 2 * r >= 10 * den:
        q += 1
    return q if num >= 0 else -q


def recovery_cents(outstanding_cents: int, per_day_cents: int, interrupted: bool) -> int:
    """What one closed day recovers of the starting advance: min(per day, outstanding)."""
    if interrupted or outstanding_cents <= 0:
        return 0
    return min(per_day_cents, outstanding_cents)


def emergency_remaining_cents(balance_cents: int, limit_cents: int) -> int:
    """Remaining emergency credit: the limit while the balance is ≥ 0, limit + balance below."""
    if balance_cents >= 0:
        return limit_cents
    return max(0, limit_cents + balance_cents)


def credit_state(balance_cents: int, limit_cents: int) -> str:
    if balance_cents <= -limit_cents:
        return "exhausted"
    if balance_cents < 0:
        return "emergency"
    return "ok"


def days_left(
    balance_cents: int, limit_cents: int, recent_daily_cents: list[int]
) -> Decimal | None:
    """(balance + remaining emergency credit) / mean daily charge and recovery of recent days.
    None when there is no history or no consumption."""
    if not recent_daily_cents:
        return None
    total = sum(recent_daily_cents)
    if total <= 0:
        return None
    available = max(0, balance_cents + emergency_remaining_cents(balance_cents, limit_cents))
    ratio = Fraction(available * len(recent_daily_cents), total)
    return (Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class LowCreditPolicy:
    threshold_cents: int
    days: int


def is_low(balance_cents: int, left: Decimal | None, policy: LowCreditPolicy) -> bool:
    """Low when balance < threshold or the forecast days left < the days threshold."""
    if balance_cents < policy.threshold_cents:
        return True
    return left is not None and left < policy.days


def price_in_force(
    prices: list[tuple[str, date, Decimal]], register: str, day: date
) -> Decimal | None:
    """The price of `register` on `day` from one (DSO, energy, category)'s prices
    [(register or "", valid_from, €/kWh)]: a price for the register itself wins over the
    every-register price; each runs from its date until the next one for the same key."""
    best: dict[str, tuple[date, Decimal]] = {}
    for reg, valid_from, price in prices:
        if reg in (register, "") and valid_from <= day:
            if reg not in best or valid_from > best[reg][0]:
                best[reg] = (valid_from, price)
    for reg in (register, ""):
        if reg in best:
            return best[reg][1]
    return None


def factor_in_force(factors: list[tuple[date, Decimal]], day: date, default: Decimal) -> Decimal:
    """The gas conversion factor (kWh/m³) in force on `day`, else the default."""
    valid = [(d, f) for d, f in factors if d <= day]
    return max(valid)[1] if valid else default


def kwh_text(value: Fraction | int) -> str:
    """Energy for display and the statement: 3 decimals, half up ("6.123")."""
    milli = round_half_up(Fraction(value) * 1000)
    return milli_text(milli)


def milli_text(milli: Fraction | int) -> str:
    """Thousandths as a 3-decimal text: 6123 → "6.123" (rounded half up when not whole)."""
    if not isinstance(milli, int):
        milli = round_half_up(milli)
    sign = "-" if milli < 0 else ""
    milli = abs(milli)
    return f"{sign}{milli // 1000}.{milli % 1000:03d}"


Reading = tuple[datetime, int]  # (instant, value in thousandths)


def segment_consumption(
    start: datetime,
    end: datetime,
    around_start: tuple[Reading | None, Reading | None],
    around_end: tuple[Reading | None, Reading | None],
    starts_at_boundary: bool = False,
    ends_at_boundary: bool = False,
) -> Fraction | int | None:
    """What a register counted (in thousandths) over [start, end] of one meter, or None while
    an end is not known.

    At a midnight the index is read or interpolated. Where the segment starts at an activation
    or a meter's installation, the register's first reading stands in when nothing comes before
    it; where it ends at a meter's removal, its final reading stands in when nothing follows."""
    first = index_at(start, *around_start)
    if first is None and starts_at_boundary and around_start[0] is None and around_start[1]:
        if around_start[1][0] >= end:
            return 0  # the register only starts counting after this segment
        first = around_start[1][1]
    if first is None:
        return None
    last = index_at(end, *around_end)
    if last is None and ends_at_boundary and around_end[1] is None and around_end[0]:
        last = around_end[0][1]
    if last is None:
        return None
    return last - first
