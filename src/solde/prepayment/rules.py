"""Pure prepayment rules (RULES.md §3–§6): no database, exact arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from solde.money import eur_to_cents_exact


def index_at(
    t: datetime,
    before: tuple[datetime, int] | None,
    after: tuple[datetime, int] | None,
) -> Fraction | None:
    """The index at instant t: the reading at t, else the linear interpolation in time between
    the nearest readings before and after. None when it is not known yet."""
    if before and before[0] == t:
        return Fraction(before[1])
    if after and after[0] == t:
        return Fraction(after[1])
    if not before or not after:
        return None
    (t0, v0), (t1, v1) = before, after
    span = (t1 - t0).total_seconds()
    return Fraction(v0) + Fraction(v1 - v0) * Fraction((t - t0).total_seconds()) / Fraction(span)


def daily_charge_cents(
    energy_by_register: Mapping[str, Fraction], price_by_register: Mapping[str, Decimal]
) -> int:
    """Σ over registers of (kWh × €/kWh), exact, rounded once to the cent half up."""
    total = sum(
        (Fraction(kwh) * Fraction(price_by_register[r]) for r, kwh in energy_by_register.items()),
        Fraction(0),
    )
    return eur_to_cents_exact(total)


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
