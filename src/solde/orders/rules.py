"""Pure rules for meter orders: retry backoff, lifetimes, supersession, supply from meter state,
and the allowed interruption window the dispatcher checks again when it sends (RULES.md §7, §9).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

import holidays

from solde import clock

# How long an order may stay pending before it expires (the operator then sees it).
LIFETIME = {
    "disconnect": timedelta(hours=24),
    "reconnect": timedelta(hours=24),
    "limit_power": timedelta(hours=24),
    "remove_limit": timedelta(hours=24),
    "display_balance": timedelta(hours=12),
    "read_now": timedelta(hours=1),
    "set_payment_mode": timedelta(hours=48),
}

# A newer order supersedes the pending orders it contradicts (RULES.md §9); a newer order of
# the same kind replaces an older one (the meter only needs the latest).
CONTRADICTS: dict[str, set[str]] = {
    "reconnect": {"disconnect", "reconnect"},
    "disconnect": {"reconnect", "disconnect"},
    "limit_power": {"remove_limit", "limit_power"},
    "remove_limit": {"limit_power", "remove_limit"},
    "display_balance": {"display_balance"},
    "set_payment_mode": {"set_payment_mode"},
    "read_now": set(),
}


def backoff(attempts: int, base_seconds: float = 30, cap_seconds: float = 1800) -> timedelta:
    """Wait before resending an unacknowledged order: base · 2^(attempts−1), capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


def supply_state(relay: str, limiter_amps: int | None) -> str:
    """The account's `supply` from the meter's relay and limiter."""
    if relay in ("disconnected", "ready_for_reconnection"):
        return relay
    return "limited" if limiter_amps else "connected"


@cache
def _belgian_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("BE", years=year)


def in_allowed_window(
    instant: datetime,
    weekdays: str = "0,1,2,3,4",
    start_hour: int = 8,
    end_hour: int = 16,
) -> bool:
    """Monday–Friday 08:00–16:00 Europe/Brussels (per DSO), not on a Belgian public holiday."""
    local = clock.local(instant)
    day: date = local.date()
    allowed_days = {int(d) for d in weekdays.split(",") if d.strip()}
    if day.weekday() not in allowed_days or day in _belgian_holidays(day.year):
        return False
    return start_hour <= local.hour < end_hour


def in_gas_winter(day: date, start_mmdd: str = "11-01", end_mmdd: str = "03-15") -> bool:
    """The gas winter period (1 Nov – 15 Mar by default), both ends included."""
    mmdd = f"{day.month:02d}-{day.day:02d}"
    if start_mmdd <= end_mmdd:
        return start_mmdd <= mmdd <= end_mmdd
    return mmdd >= start_mmdd or mmdd <= end_mmdd
