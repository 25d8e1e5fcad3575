"""The daily index table the close writes: each charged register's indexes at the bounds of a
closed day, its consumption, and a start read at midnight taken from the day before's row."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from solde.ledger.services import verify
from solde.prepayment.close import close_day
from solde.prepayment.models import DayCharge
from solde.readings.models import DailyIndex, Reading
from solde.registry.models import Meter
from tests.prepayment.helpers import activated, add_readings, meter_of, midnight

pytestmark = pytest.mark.django_db

D = date.fromisoformat


@pytest.fixture
def account(make_supply_point, make_tariff, frozen):
    make_tariff("0.25", valid_from="2026-01-01")
    sp = make_supply_point()
    return sp, activated(sp, midnight("2026-11-25"))


def rows(meter) -> dict[tuple[str, date], tuple[int, int, int, bool]]:
    return {
        (d.register, d.day): (d.start_milli, d.end_milli, d.consumption_milli, d.interpolated)
        for d in DailyIndex.objects.filter(meter=meter)
    }


def test_each_closed_day_writes_its_registers_indexes_and_consumption(account):
    sp, acc = account
    m = meter_of(sp)
    for reg, values in (("1.8.1", [1_000_000, 1_006_123, 1_010_000]), ("1.8.2", [5, 5, 7])):
        add_readings(m, reg, [(midnight(f"2026-11-2{5 + i}"), v) for i, v in enumerate(values)])
    close_day(D("2026-11-26"))
    assert rows(m) == {
        ("1.8.1", D("2026-11-25")): (1_000_000, 1_006_123, 6_123, False),
        ("1.8.1", D("2026-11-26")): (1_006_123, 1_010_000, 3_877, False),
        ("1.8.2", D("2026-11-25")): (5, 5, 0, False),
        ("1.8.2", D("2026-11-26")): (5, 7, 2, False),
    }
    # Closing again writes nothing twice (the unique (meter, register, day) would refuse it).
    close_day(D("2026-11-26"))
    assert DailyIndex.objects.count() == 4


def test_an_interpolated_bound_is_flagged_and_rounded_half_to_even(account):
    sp, acc = account
    m = meter_of(sp)
    add_readings(m, "1.8.2", [(midnight("2026-11-25"), 0), (midnight("2026-11-26"), 0)])
    # 1.8.1: read at the 25th's midnight; the next midnight falls 1/4 of the way between a
    # reading 1 h before (1001) and one 3 h after (1003): 1001.5 exactly → 1002 (half to even),
    # and the day counted 1001.5 - 0 → 1002 thousandths.
    add_readings(
        m,
        "1.8.1",
        [
            (midnight("2026-11-25"), 0),
            (midnight("2026-11-26") - timedelta(hours=1), 1001),
            (midnight("2026-11-26") + timedelta(hours=3), 1003),
        ],
    )
    close_day(D("2026-11-25"))
    assert rows(m)[("1.8.1", D("2026-11-25"))] == (0, 1002, 1002, True)
    assert rows(m)[("1.8.2", D("2026-11-25"))] == (0, 0, 0, False)
    assert DayCharge.objects.get(account=acc).kwh["1.8.1"] == "1.002"  # half up, 3 decimals


def test_a_start_read_at_midnight_comes_from_the_day_before(account):
    """The next day's start is yesterday's end when that end was READ: the reading itself is
    not looked up again (here it was removed after the first close, and the day still closes
    from yesterday's row)."""
    sp, acc = account
    m = meter_of(sp)
    for reg in ("1.8.1", "1.8.2"):
        add_readings(m, reg, [(midnight("2026-11-25"), 0), (midnight("2026-11-26"), 4_000)])
    close_day(D("2026-11-25"))
    Reading.objects.filter(meter=m, at=midnight("2026-11-26")).delete()
    for reg in ("1.8.1", "1.8.2"):
        add_readings(m, reg, [(midnight("2026-11-27"), 10_000)])
    close_day(D("2026-11-26"))
    day = DayCharge.objects.get(account=acc, day=D("2026-11-26"))
    assert day.kwh == {"1.8.1": "6.000", "1.8.2": "6.000"}
    assert rows(m)[("1.8.1", D("2026-11-26"))] == (4_000, 10_000, 6_000, False)
    assert verify().ok


def test_an_interpolated_end_is_not_reused_when_a_late_reading_lands_on_midnight(account):
    """Yesterday's end was interpolated; a late reading then arrives exactly at that midnight:
    today starts from the reading, not from yesterday's estimate."""
    sp, acc = account
    m = meter_of(sp)
    add_readings(m, "1.8.2", [(midnight(f"2026-11-2{d}"), 0) for d in (5, 6, 7)])
    add_readings(
        m,
        "1.8.1",
        [
            (midnight("2026-11-25"), 0),
            (midnight("2026-11-26") - timedelta(hours=2), 1_000),
            (midnight("2026-11-26") + timedelta(hours=2), 2_000),
        ],
    )
    close_day(D("2026-11-25"))
    assert rows(m)[("1.8.1", D("2026-11-25"))] == (0, 1_500, 1_500, True)
    add_readings(m, "1.8.1", [(midnight("2026-11-26"), 1_200), (midnight("2026-11-27"), 5_000)])
    close_day(D("2026-11-26"))
    assert rows(m)[("1.8.1", D("2026-11-26"))] == (1_200, 5_000, 3_800, False)
    assert DayCharge.objects.get(account=acc, day=D("2026-11-26")).kwh["1.8.1"] == "3.800"


def test_a_meter_exchange_writes_a_row_per_meter_segment(
    make_supply_point, make_tariff, frozen, at
):
    make_tariff("1.00")
    sp = make_supply_point()
    activated(sp, midnight("2026-11-26"))
    old = meter_of(sp)
    swap = at("2026-11-26 13:00")
    Meter.objects.filter(pk=old.pk).update(removed_at=swap)
    new = Meter.objects.create(
        serial="NEW-1", supply_point=sp, registers=["1.8.1", "1.8.2"], installed_at=swap
    )
    add_readings(old, "1.8.1", [(midnight("2026-11-26"), 90_000), (swap, 93_000)])
    add_readings(old, "1.8.2", [(midnight("2026-11-26"), 10_000), (swap, 10_000)])
    add_readings(new, "1.8.1", [(swap, 0), (midnight("2026-11-27"), 2_500)])
    # 1.8.2 of the new meter only starts counting after the day: no index, no row
    add_readings(new, "1.8.2", [(midnight("2026-11-27") + timedelta(hours=1), 0)])
    close_day(D("2026-11-26"))
    day = D("2026-11-26")
    assert rows(old) == {
        ("1.8.1", day): (90_000, 93_000, 3_000, False),
        ("1.8.2", day): (10_000, 10_000, 0, False),
    }
    assert rows(new) == {("1.8.1", day): (0, 2_500, 2_500, False)}


def test_a_waiting_account_writes_no_daily_index(account):
    sp, acc = account
    m = meter_of(sp)
    add_readings(m, "1.8.1", [(midnight("2026-11-25"), 0), (midnight("2026-11-26"), 10)])
    add_readings(m, "1.8.2", [(midnight("2026-11-25"), 0)])  # its end is not known yet
    result = close_day(D("2026-11-25"))
    assert result.waiting_for_data == 1
    assert not DailyIndex.objects.exists()
