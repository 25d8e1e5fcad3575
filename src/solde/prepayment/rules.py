"""Pure prepayment rules (RULES.md §3–§6): no database, exact arithmetic."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Protocol

import holidays

from solde.clock import BRUSSELS
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
    return days_left_of(
        balance_cents, limit_cents, sum(recent_daily_cents), len(recent_daily_cents)
    )


def days_left_of(
    balance_cents: int, limit_cents: int, recent_total_cents: int, recent_days: int
) -> Decimal | None:
    """`days_left` from the sum and count of the recent days (summed by the database)."""
    if not recent_days or recent_total_cents <= 0:
        return None
    available = max(0, balance_cents + emergency_remaining_cents(balance_cents, limit_cents))
    ratio = Fraction(available * recent_days, recent_total_cents)
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


@dataclass(frozen=True)
class SegmentIndexes:
    """A register's indexes (thousandths, exact) at the two ends of a meter segment.

    `interpolated`: an end lies between two readings (its index is their linear interpolation).
    `known` is False for a register that only starts counting after the segment: it counted
    nothing and has no index at either end."""

    start: Fraction | int
    end: Fraction | int
    interpolated: bool = False
    known: bool = True

    @property
    def consumption(self) -> Fraction | int:
        return self.end - self.start


def _read_at(t: datetime, around: tuple[Reading | None, Reading | None]) -> bool:
    before, after = around
    return (before is not None and before[0] == t) or (after is not None and after[0] == t)


def segment_indexes(
    start: datetime,
    end: datetime,
    around_start: tuple[Reading | None, Reading | None],
    around_end: tuple[Reading | None, Reading | None],
    starts_at_boundary: bool = False,
    ends_at_boundary: bool = False,
) -> SegmentIndexes | None:
    """A register's indexes at both ends of [start, end] of one meter, or None while an end is
    not known.

    At a midnight the index is read or interpolated. Where the segment starts at an activation
    or a meter's installation, the register's first reading stands in when nothing comes before
    it; where it ends at a meter's removal, its final reading stands in when nothing follows."""
    interpolated = False
    first = index_at(start, *around_start)
    if first is None and starts_at_boundary and around_start[0] is None and around_start[1]:
        if around_start[1][0] >= end:
            # the register only starts counting after this segment
            return SegmentIndexes(0, 0, known=False)
        first = around_start[1][1]
    elif first is not None and not _read_at(start, around_start):
        interpolated = True
    if first is None:
        return None
    last = index_at(end, *around_end)
    if last is None and ends_at_boundary and around_end[1] is None and around_end[0]:
        last = around_end[0][1]
    elif last is not None and not _read_at(end, around_end):
        interpolated = True
    if last is None:
        return None
    return SegmentIndexes(first, last, interpolated)


def segment_consumption(
    start: datetime,
    end: datetime,
    around_start: tuple[Reading | None, Reading | None],
    around_end: tuple[Reading | None, Reading | None],
    starts_at_boundary: bool = False,
    ends_at_boundary: bool = False,
) -> Fraction | int | None:
    """What a register counted (in thousandths) over [start, end] of one meter, or None while
    an end is not known (the ends as `segment_indexes` finds them)."""
    found = segment_indexes(
        start, end, around_start, around_end, starts_at_boundary, ends_at_boundary
    )
    return None if found is None else found.consumption


def round_half_even(value: Fraction | int) -> int:
    """Thousandths as stored in the daily index table: the exact value rounded half to even."""
    return round(value)


# --- Interruption windows and policy (RULES.md §7) -------------------------------------------
# Pure: they read only the DSO's settings (a Dso or any object with the same attributes).


class WindowSettings(Protocol):
    window_start_hour: int
    window_end_hour: int
    window_weekdays: str  # "0,1,2,3,4" (0 = Monday)


class InterruptionSettings(Protocol):
    limiter_amps: int
    gas_winter_start: str  # "MM-DD"
    gas_winter_end: str


class MassCutSettings(Protocol):
    mass_cut_percent: Decimal
    mass_cut_minimum: int


@lru_cache(maxsize=64)
def _belgian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("BE", years=year))


def is_public_holiday(day: date) -> bool:
    return day in _belgian_holidays(day.year)


def _weekdays(dso: WindowSettings) -> frozenset[int]:
    return frozenset(int(d) for d in str(dso.window_weekdays).replace(" ", "").split(",") if d)


def is_window_day(day: date, dso: WindowSettings) -> bool:
    """A local day on which the DSO may interrupt supply at all."""
    return day.weekday() in _weekdays(dso) and not is_public_holiday(day)


def in_allowed_window(instant: datetime, dso: WindowSettings) -> bool:
    """Whether supply may be interrupted at `instant`: an allowed weekday (Monday–Friday by
    default), not a Belgian public holiday, from window_start_hour (included) to window_end_hour
    (excluded), Europe/Brussels wall-clock time — so DST days need no special case."""
    local = instant.astimezone(BRUSSELS)
    if not is_window_day(local.date(), dso):
        return False
    return dso.window_start_hour <= local.hour < dso.window_end_hour


def window_start_on(day: date, dso: WindowSettings) -> datetime | None:
    """The UTC instant the window of local `day` opens, or None when the day has no window."""
    if not is_window_day(day, dso) or dso.window_start_hour >= dso.window_end_hour:
        return None
    return datetime(
        day.year, day.month, day.day, dso.window_start_hour, tzinfo=BRUSSELS
    ).astimezone(UTC)


def next_window_start(instant: datetime, dso: WindowSettings) -> datetime | None:
    """The first window opening at or after `instant` (UTC). None when the settings allow no
    window within a year (no weekday configured)."""
    day = instant.astimezone(BRUSSELS).date()
    for offset in range(366):
        start = window_start_on(day + timedelta(days=offset), dso)
        if start is not None and start >= instant:
            return start
    return None


def window_starts_between(start: datetime, end: datetime, dso: WindowSettings) -> list[datetime]:
    """Window openings in (start, end], for the scheduled job."""
    out = []
    day = start.astimezone(BRUSSELS).date()
    last = end.astimezone(BRUSSELS).date()
    while day <= last:
        opening = window_start_on(day, dso)
        if opening is not None and start < opening <= end:
            out.append(opening)
        day += timedelta(days=1)
    return out


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def in_gas_winter(local_day: date, dso: InterruptionSettings) -> bool:
    """The winter period (1 Nov – 15 Mar by default, both days included), across the new year."""
    md = (local_day.month, local_day.day)
    first, last = _month_day(dso.gas_winter_start), _month_day(dso.gas_winter_end)
    if first <= last:
        return first <= md <= last
    return md >= first or md <= last


DISCONNECT = "disconnect"
LIMIT_POWER = "limit_power"


def interruption_action(
    energy: str, protected: bool, local_date: date, dso: InterruptionSettings
) -> str | None:
    """What interrupting an exhausted account means: a power limiter for a protected
    electricity customer, nothing for a protected gas customer in winter, else a disconnect."""
    if protected and energy == "electricity":
        return LIMIT_POWER
    if protected and energy == "gas" and in_gas_winter(local_date, dso):
        return None
    return DISCONNECT


def mass_cut_exceeded(count: int, active_accounts: int, dso: MassCutSettings) -> bool:
    """The guard: more than mass_cut_percent of the DSO's active accounts AND more than
    mass_cut_minimum interruptions in one run need an operator's confirmation."""
    over_share = Decimal(count) * 100 > Decimal(active_accounts) * Decimal(dso.mass_cut_percent)
    return over_share and count > dso.mass_cut_minimum


# --- Credit-control decisions (RULES.md §7, the balance display of §9) ------------------------
# One copy of each rule: credit control (evaluate, the held-run confirmation) and the order
# dispatcher's send-time check call these; they read no database.

# Order kinds (the same values as orders.models.OrderKind), named here to keep the rules pure.
RECONNECT = "reconnect"
REMOVE_LIMIT = "remove_limit"
DISPLAY_BALANCE = "display_balance"
# Supply states reported by the meter (prepayment.models.Supply).
LIMITED = "limited"
CUT_SUPPLY = ("disconnected", "ready_for_reconnection")
READY_FOR_RECONNECTION = "ready_for_reconnection"


def is_exhausted(balance_cents: int, limit_cents: int) -> bool:
    """Exhausted when the balance is at or below −limit (§6)."""
    return balance_cents <= -limit_cents


def interruption_state(supply: str, pending_kinds: Collection[str]) -> str | None:
    """How an account is interrupted now, reported by the meter or already ordered:
    "limit", "cut" or None."""
    if supply == LIMITED or LIMIT_POWER in pending_kinds:
        return "limit"
    if supply in CUT_SUPPLY or DISCONNECT in pending_kinds:
        return "cut"
    return None


@dataclass(frozen=True)
class Verdict:
    """What credit control decides for one account: the decision (the values of
    prepayment.models.Decision), the order kind it implies and the rule, for the operator."""

    decision: str
    action: str = ""
    rule: str = ""


def interrupt_rule(action: str) -> str:
    if action == LIMIT_POWER:
        return "§7: exhausted in an allowed window, power limiter (protected)"
    return "§7: exhausted in an allowed window, disconnect"


# An operator paused interruptions for the account until a date (medical equipment, a CPAS
# file in progress): the console's "pause interruptions" action.
PAUSED_RULE = "§7: interruptions paused by an operator"


def credit_verdict(
    *,
    balance_cents: int,
    limit_cents: int,
    supply: str,
    pending_kinds: Collection[str],
    held: bool,
    energy: str,
    protected: bool,
    local_day: date,
    in_window: bool,
    dso: InterruptionSettings,
    paused: bool = False,
) -> Verdict | None:
    """§7 for one account with a meter: restore an interrupted account back at ≥ 0 at once
    (unless the reconnection is already armed or ordered); interrupt an exhausted one inside an
    allowed window (limiter for a protected electricity customer, nothing for a protected gas
    customer in winter); friendly credit outside a window. None: nothing to decide.

    "interrupt" is a candidate: the mass-cut guard and a fresh balance still have their say."""
    interrupted = interruption_state(supply, pending_kinds)
    if interrupted and balance_cents >= 0:
        restore = REMOVE_LIMIT if interrupted == "limit" else RECONNECT
        armed = supply == READY_FOR_RECONNECTION and DISCONNECT not in pending_kinds
        if armed or restore in pending_kinds:
            return None
        return Verdict(
            "reconnect",
            restore,
            "§7: balance back to ≥ 0 on an interrupted account, restore at once",
        )
    if interrupted or held or not is_exhausted(balance_cents, limit_cents):
        return None
    action = interruption_action(energy, protected, local_day, dso)
    if action is None:
        return Verdict(
            "no_interruption",
            "",
            "§7: protected gas customer in the winter period, no interruption",
        )
    if paused:
        return Verdict("no_interruption", "", PAUSED_RULE)
    if in_window:
        return Verdict("interrupt", action, interrupt_rule(action))
    return Verdict(
        "friendly_credit", action, "§7: exhausted outside an allowed window, friendly credit"
    )


def display_rule(
    mode: str | None,
    balance_cents: int,
    interrupted: bool,
    last_delta_cents: int | None,
) -> str | None:
    """§9: whether the meter shows the balance now, and why. `mode`: "close" (once a day
    after the close), "change" (a top-up or adjustment: only for an account in emergency
    credit or interrupted, now or just before the change), None (no display)."""
    if mode == "close":
        return "§9: daily balance display after the close"
    if mode != "change":
        return None
    was_negative = last_delta_cents is not None and balance_cents - last_delta_cents < 0
    if balance_cents < 0 or interrupted or was_negative:
        return "§9: balance display after a top-up in emergency or interrupted"
    return None


def confirm_skip_reason(
    *,
    has_meter: bool,
    balance_cents: int,
    limit_cents: int,
    interrupted: bool,
    action: str | None,
    in_window: bool,
    paused: bool = False,
) -> str:
    """§7 again when an operator confirms a held run: why one account is no longer
    interrupted ("" = interrupt it)."""
    if not has_meter:
        return "no meter in place"
    if not is_exhausted(balance_cents, limit_cents):
        return "§7: balance above −limit now, not interrupted"
    if interrupted:
        return "already interrupted or ordered"
    if action is None:
        return "§7: protected gas customer in the winter period, no interruption"
    if paused:
        return PAUSED_RULE
    if not in_window:
        return "§7: outside an allowed window"
    return ""


# --- One account's closed day (RULES.md §4–§6), for the close's chunk ------------------------

NO_DATA = "no_data"  # prepayment.models.WaitingReason
NO_PRICE = "no_price"


@dataclass(frozen=True)
class Waiting:
    """The day cannot be closed yet: no midnight index, or consumption without a price."""

    reason: str
    missing_registers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClosedDay:
    charge_cents: int
    recovery_cents: int
    advance_repaid: bool  # this day's recovery is the last of the advance
    details: dict  # kWh per register (and m³ and the factor for gas), the prices applied


def close_account_day(
    units: Mapping[str, Fraction | int] | None,
    *,
    energy: str,
    day: date,
    tariff: list[tuple[str, date, Decimal]],
    gas_factors: list[tuple[date, Decimal]],
    default_gas_factor: Decimal,
    activation_day: date | None,
    advance_outstanding_cents: int,
    recovery_per_day_cents: int,
    interrupted: bool,
) -> ClosedDay | Waiting:
    """What closing `day` means for one account, from what its registers counted (thousandths;
    None while a midnight index is missing): the charge at the prices in force (gas converted
    with the factor in force), and the advance recovery from the day after activation."""
    if units is None:
        return Waiting(NO_DATA)
    factor = (
        factor_in_force(gas_factors, day, default_gas_factor) if energy == "gas" else Decimal(1)
    )
    # kWh in thousandths (exact): the units themselves for electricity.
    kwh_milli = (
        units if energy != "gas" else {r: Fraction(u) * Fraction(factor) for r, u in units.items()}
    )
    prices: dict[str, Decimal] = {}
    missing = []
    for reg, value in kwh_milli.items():
        price = price_in_force(tariff, reg, day)
        if price is not None:
            prices[reg] = price
        elif value:
            missing.append(reg)
    if missing:
        return Waiting(NO_PRICE, tuple(missing))
    charge = daily_charge_cents_milli({r: v for r, v in kwh_milli.items() if v}, prices)
    details: dict = {"kwh": {r: milli_text(m) for r, m in kwh_milli.items()}}
    if energy == "gas":
        details["m3"] = {r: milli_text(u) for r, u in units.items()}
        details["kwh_per_m3"] = str(factor)
    details["prices"] = {r: str(p) for r, p in prices.items()}
    recovery = 0
    if activation_day and day > activation_day:
        recovery = recovery_cents(advance_outstanding_cents, recovery_per_day_cents, interrupted)
    repaid = bool(recovery) and recovery == advance_outstanding_cents
    return ClosedDay(charge, recovery, repaid, details)
