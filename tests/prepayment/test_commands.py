"""`solde close-day` and `solde clock`."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from solde.prepayment.models import CloseRun, DayCharge
from tests.prepayment.helpers import activated, add_readings, meter_of, midnight

pytestmark = pytest.mark.django_db


def test_close_day_command_closes_yesterday_by_default(
    make_supply_point, make_tariff, frozen, capsys
):
    make_tariff("0.50")
    sp = make_supply_point()
    activated(sp, midnight("2026-11-27"))
    add_readings(
        meter_of(sp), "1.8.1", [(midnight("2026-11-27"), 0), (midnight("2026-11-28"), 2000)]
    )
    add_readings(meter_of(sp), "1.8.2", [(midnight("2026-11-27"), 0), (midnight("2026-11-28"), 0)])
    call_command("close-day")
    out = capsys.readouterr().out
    assert "Closed up to 2026-11-27: 1 account-day(s) closed" in out
    assert DayCharge.objects.get().charge_cents == 100
    assert CloseRun.objects.get().day == date(2026, 11, 27)


def test_close_day_command_refuses_a_day_not_over(frozen, db):
    with pytest.raises(CommandError, match="not over"):
        call_command("close-day", "--date", "2026-11-28")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("close-day", "--date", "28/11/2026")


def test_close_day_command_names_missing_prices(make_supply_point, frozen, capsys):
    sp = make_supply_point()
    activated(sp, midnight("2026-11-27"))
    add_readings(
        meter_of(sp), "1.8.1", [(midnight("2026-11-27"), 0), (midnight("2026-11-28"), 2000)]
    )
    add_readings(meter_of(sp), "1.8.2", [(midnight("2026-11-27"), 0), (midnight("2026-11-28"), 0)])
    call_command("close-day", "--date", "2026-11-27")
    captured = capsys.readouterr()
    assert "1 waiting for a price" in captured.out
    assert "No price in force for RESA electricity average 1.8.1" in captured.err


def test_clock_show_and_set_needs_simulation(settings, capsys, db):
    settings.SIMULATION = False
    call_command("clock", "show")
    assert "system clock" in capsys.readouterr().out
    with pytest.raises(CommandError, match="simulation mode"):
        call_command("clock", "set", "2026-12-01T08:00:00+01:00")
