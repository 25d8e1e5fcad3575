"""The pure rules of RULES.md §7: allowed windows, what interruption means, the mass-cut guard."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from solde.clock import BRUSSELS
from solde.prepayment import rules


@dataclass
class Settings:
    window_start_hour: int = 8
    window_end_hour: int = 16
    window_weekdays: str = "0,1,2,3,4"
    limiter_amps: int = 10
    gas_winter_start: str = "11-01"
    gas_winter_end: str = "03-15"
    mass_cut_percent: Decimal = Decimal("2")
    mass_cut_minimum: int = 20


DEFAULT = Settings()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


@pytest.mark.parametrize(
    "when, allowed",
    [
        ("2026-11-30 07:59", False),  # Monday, before the window
        ("2026-11-30 08:00", True),
        ("2026-11-30 15:59", True),
        ("2026-11-30 16:00", False),  # the window's end is excluded
        ("2026-12-04 12:00", True),  # Friday
        ("2026-12-05 12:00", False),  # Saturday
        ("2026-12-06 12:00", False),  # Sunday
        ("2026-04-06 10:00", False),  # Easter Monday
        ("2026-05-25 10:00", False),  # Whit Monday
        ("2026-05-14 10:00", False),  # Ascension (Thursday)
        ("2026-11-11 10:00", False),  # Armistice (Wednesday)
        ("2026-04-07 10:00", True),  # the Tuesday after Easter
        ("2026-03-29 10:00", False),  # DST day (Sunday)
        ("2026-10-25 10:00", False),  # DST day (Sunday)
        ("2026-03-30 08:00", True),  # first Monday in summer time: 06:00 UTC
        ("2026-10-26 07:59", False),  # first Monday in winter time: 06:59 UTC
    ],
)
def test_allowed_window(when, allowed):
    assert rules.in_allowed_window(local(when), DEFAULT) is allowed


def test_window_is_local_wall_clock_across_dst():
    # 08:00 local is 06:00 UTC in summer and 07:00 UTC in winter.
    assert rules.in_allowed_window(datetime(2026, 3, 30, 6, 0, tzinfo=UTC), DEFAULT)
    assert not rules.in_allowed_window(datetime(2026, 3, 30, 5, 59, tzinfo=UTC), DEFAULT)
    assert not rules.in_allowed_window(datetime(2026, 10, 26, 6, 30, tzinfo=UTC), DEFAULT)
    assert rules.in_allowed_window(datetime(2026, 10, 26, 7, 0, tzinfo=UTC), DEFAULT)


def test_dst_days_with_a_seven_day_window():
    every_day = Settings(window_weekdays="0,1,2,3,4,5,6")
    assert rules.in_allowed_window(local("2026-03-29 08:00"), every_day)
    assert not rules.in_allowed_window(local("2026-03-29 07:59"), every_day)
    assert rules.next_window_start(local("2026-03-29 01:00"), every_day) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )
    assert rules.next_window_start(local("2026-10-25 01:00"), every_day) == datetime(
        2026, 10, 25, 7, 0, tzinfo=UTC
    )
    assert rules.in_allowed_window(local("2026-10-25 15:59"), every_day)
    assert not rules.in_allowed_window(local("2026-10-25 16:00"), every_day)


def test_per_dso_window_settings():
    narrow = Settings(window_start_hour=9, window_end_hour=12, window_weekdays="1,2,3")
    assert not rules.in_allowed_window(local("2026-12-01 08:30"), narrow)  # Tuesday
    assert rules.in_allowed_window(local("2026-12-01 09:00"), narrow)
    assert not rules.in_allowed_window(local("2026-12-01 12:00"), narrow)
    assert not rules.in_allowed_window(local("2026-11-30 10:00"), narrow)  # Monday
    assert rules.next_window_start(local("2026-11-30 10:00"), narrow) == local("2026-12-01 09:00")


@pytest.mark.parametrize(
    "when, expected",
    [
        ("2026-12-04 17:00", "2026-12-07 08:00"),  # Friday evening → Monday
        ("2026-12-07 08:00", "2026-12-07 08:00"),  # at the opening itself
        ("2026-12-07 08:01", "2026-12-08 08:00"),  # inside: the next opening
        ("2026-04-03 17:00", "2026-04-07 08:00"),  # Good Friday evening → past Easter Monday
        ("2026-05-22 16:00", "2026-05-26 08:00"),  # before Whit Monday
        ("2026-03-27 18:00", "2026-03-30 08:00"),  # over the spring DST weekend
        ("2026-10-23 18:00", "2026-10-26 08:00"),  # over the autumn DST weekend
        ("2026-12-24 16:00", "2026-12-28 08:00"),  # Christmas Friday
    ],
)
def test_next_window_start(when, expected):
    assert rules.next_window_start(local(when), DEFAULT) == local(expected)


def test_no_window_at_all():
    assert rules.next_window_start(local("2026-12-01 10:00"), Settings(window_weekdays="")) is None


def test_window_starts_between_over_a_weekend_and_holiday():
    starts = rules.window_starts_between(
        local("2026-04-02 09:00"), local("2026-04-08 08:00"), DEFAULT
    )
    # Thursday 2 (after 09:00), Friday 3 (Good Friday is a working day in Belgium),
    # Easter Monday 6 skipped, Tuesday 7, Wednesday 8 at 08:00 included.
    assert starts == [
        local("2026-04-03 08:00"),
        local("2026-04-07 08:00"),
        local("2026-04-08 08:00"),
    ]


@pytest.mark.parametrize(
    "energy, protected, day, action",
    [
        ("electricity", False, date(2026, 7, 1), "disconnect"),
        ("electricity", False, date(2026, 12, 1), "disconnect"),
        ("electricity", True, date(2026, 7, 1), "limit_power"),
        ("electricity", True, date(2026, 12, 1), "limit_power"),
        ("gas", False, date(2026, 12, 1), "disconnect"),
        ("gas", True, date(2026, 12, 1), None),
        ("gas", True, date(2026, 11, 1), None),  # first day of winter
        ("gas", True, date(2027, 3, 15), None),  # last day of winter
        ("gas", True, date(2027, 3, 16), "disconnect"),
        ("gas", True, date(2026, 10, 31), "disconnect"),
        ("gas", True, date(2026, 7, 1), "disconnect"),
    ],
)
def test_interruption_action(energy, protected, day, action):
    assert rules.interruption_action(energy, protected, day, DEFAULT) == action


def test_winter_period_per_dso():
    short = Settings(gas_winter_start="12-01", gas_winter_end="02-28")
    assert rules.interruption_action("gas", True, date(2026, 11, 15), short) == "disconnect"
    assert rules.interruption_action("gas", True, date(2026, 12, 15), short) is None


@pytest.mark.parametrize(
    "count, active, exceeded",
    [
        (20, 100, False),  # 20 % but not more than 20
        (21, 100, True),
        (21, 1050, False),  # exactly 2 %
        (22, 1050, True),
        (25, 10_000, False),  # more than 20 but 0.25 %
        (201, 10_000, True),
        (0, 0, False),
    ],
)
def test_mass_cut_guard(count, active, exceeded):
    assert rules.mass_cut_exceeded(count, active, DEFAULT) is exceeded


def test_mass_cut_guard_per_dso():
    strict = Settings(mass_cut_percent=Decimal("0.5"), mass_cut_minimum=5)
    assert rules.mass_cut_exceeded(6, 1000, strict)
    assert not rules.mass_cut_exceeded(5, 1000, strict)
