"""Meter exchange: the old meter closes with its final indexes, the new one opens with its
start indexes, and readings outside a meter's life are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from solde import clock
from solde.readings.models import Reading
from solde.readings.services import ExchangeError, exchange_meter, ingest
from solde.registry.models import Meter

pytestmark = pytest.mark.django_db

EXCHANGE = "2026-11-28T10:00:00+01:00"


@pytest.fixture
def exchanged(frozen, make_supply_point, row, at):
    sp = make_supply_point(registers=["1.8.1", "1.8.2"])
    old = sp.meters.get().serial
    ingest(
        [row(sp, "2026-11-28T09:00:00+01:00", "1000", register=r) for r in ("1.8.1", "1.8.2")],
        "test",
    )
    exchange_meter(
        sp,
        old,
        {"1.8.1": Decimal("1004.5"), "1.8.2": Decimal("1000")},
        "NEW-1",
        ["1.8.1", "1.8.2"],
        {"1.8.1": Decimal("0"), "1.8.2": Decimal("0.250")},
        at("2026-11-28 10:00"),
    )
    return sp, old


def test_exchange_closes_the_old_meter_and_opens_the_new(exchanged, at):
    sp, old = exchanged
    when = at("2026-11-28 10:00")
    old_meter, new_meter = Meter.objects.get(serial=old), Meter.objects.get(serial="NEW-1")
    assert old_meter.removed_at == when and new_meter.installed_at == when
    assert new_meter.supply_point == sp and new_meter.removed_at is None
    readings = {
        (r.meter.serial, r.register): r.value_milli
        for r in Reading.objects.filter(at=when).select_related("meter")
    }
    assert readings == {
        (old, "1.8.1"): 1_004_500,
        (old, "1.8.2"): 1_000_000,
        ("NEW-1", "1.8.1"): 0,
        ("NEW-1", "1.8.2"): 250,
    }


def test_readings_continue_on_the_new_meter(exchanged, row):
    sp, old = exchanged
    result = ingest(
        [
            row(sp, "2026-11-28T10:15:00+01:00", "1.5", meter="NEW-1"),  # new meter, from 0
            row(sp, "2026-11-28T10:15:00+01:00", "1005", meter=old),  # old meter, removed
            row(sp, "2026-11-28T09:45:00+01:00", "0.1", meter="NEW-1"),  # before installation
            row(sp, "2026-11-28T09:30:00+01:00", "1002", meter=old),  # late, within its life
        ],
        "test",
    )
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "unknown_meter"),
        (2, "unknown_meter"),
    ]
    assert "a été retiré de l'EAN" in result.rejected[0].detail
    assert "a été posé sur l'EAN" in result.rejected[1].detail


def test_final_index_below_the_last_reading_is_refused(frozen, make_supply_point, at, row):
    sp = make_supply_point(registers=["1.8.1"])
    old = sp.meters.get().serial
    ingest([row(sp, "2026-11-28T09:00:00+01:00", "1000")], "test")
    with pytest.raises(ExchangeError, match="inférieur à l'index 1000.000"):
        exchange_meter(
            sp,
            old,
            {"1.8.1": Decimal("999")},
            "NEW-2",
            ["1.8.1"],
            {"1.8.1": Decimal("0")},
            at("2026-11-28 10:00"),
        )
    # Nothing written: the old meter still runs, the new one does not exist.
    assert Meter.objects.get(serial=old).removed_at is None
    assert not Meter.objects.filter(serial="NEW-2").exists()
    assert Reading.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"old_serial": "NOPE"}, "n'est pas un compteur de l'EAN"),
        ({"final_indexes": {"1.8.1": Decimal("1")}}, "index final pour chaque registre"),
        (
            {"new_registers": ["24.2.3"], "start_indexes": {"24.2.3": Decimal("0")}},
            "registres distincts",
        ),
        ({"start_indexes": {"1.8.1": Decimal("0")}}, "index de départ pour chaque registre"),
        ({"new_serial": "TAKEN"}, "déjà enregistré"),
        ({"at": "2026-11-28 08:00"}, "a déjà un relevé"),
        ({"at": "2026-11-28 13:00"}, "dans le futur"),
        (
            {"final_indexes": {"1.8.1": Decimal("1000.0001"), "1.8.2": Decimal("0")}},
            "plus de 3 décimales",
        ),
    ],
)
def test_exchange_refusals(frozen, make_supply_point, at, row, kwargs, message):
    sp = make_supply_point(registers=["1.8.1", "1.8.2"])
    make_supply_point(serial="TAKEN")
    ingest([row(sp, "2026-11-28T09:00:00+01:00", "1000")], "test")
    args = {
        "old_serial": sp.meters.get().serial,
        "final_indexes": {"1.8.1": Decimal("1001"), "1.8.2": Decimal("0")},
        "new_serial": "NEW-3",
        "new_registers": ["1.8.1", "1.8.2"],
        "start_indexes": {"1.8.1": Decimal("0"), "1.8.2": Decimal("0")},
        "at": at("2026-11-28 10:00"),
    }
    args.update(kwargs)
    if isinstance(args["at"], str):
        args["at"] = at(args["at"])
    with pytest.raises(ExchangeError, match=message):
        exchange_meter(sp, **args)
    assert not Meter.objects.filter(serial="NEW-3").exists()


def test_a_removed_meter_cannot_be_exchanged_twice(exchanged, at):
    sp, old = exchanged
    with pytest.raises(ExchangeError, match="déjà été retiré"):
        exchange_meter(
            sp,
            old,
            {"1.8.1": Decimal("1"), "1.8.2": Decimal("1")},
            "NEW-4",
            ["1.8.1"],
            {"1.8.1": Decimal("0")},
            at("2026-11-28 11:00"),
        )


def test_exchange_does_not_activate_a_pending_account(frozen, make_supply_point, at):
    sp = make_supply_point(registers=["1.8.1"])
    exchange_meter(
        sp,
        sp.meters.get().serial,
        {"1.8.1": Decimal("5")},
        "NEW-5",
        ["1.8.1"],
        {"1.8.1": Decimal("0")},
        at("2026-11-28 10:00"),
    )
    assert sp.account.state == "pending"
    assert clock.local(Meter.objects.get(serial="NEW-5").installed_at).hour == 10


def test_meter_exchanged_between_reading_and_writing_a_batch(frozen, make_supply_point, row, at):
    # The file import checks a batch before the previous one is written: the meters are
    # checked again once locked, so an exchange in between is seen.
    from django.db import transaction

    from solde.readings.services import _commit, _prepare

    sp = make_supply_point(registers=["1.8.1"])
    rows = [tuple(row(sp, "2026-11-28T11:00:00+01:00", "5").values())]
    prepared = _prepare(rows)
    exchange_meter(
        sp,
        sp.meters.get().serial,
        {"1.8.1": Decimal("4")},
        "NEW-6",
        ["1.8.1"],
        {"1.8.1": Decimal("0")},
        at("2026-11-28 10:00"),
    )
    with transaction.atomic():
        result = _commit(prepared, "test", lambda pos: pos)
    assert [r.reason for r in result.rejected] == ["unknown_meter"]
    assert "a été retiré" in result.rejected[0].detail


def test_exchange_from_the_command_line(frozen, make_supply_point, row):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    sp = make_supply_point(registers=["1.8.1", "1.8.2"])
    old = sp.meters.get().serial
    out = StringIO()
    call_command(
        "exchange-meter",
        sp.ean,
        old,
        "NEW-7",
        "--at",
        "2026-11-28T10:00:00+01:00",
        "--final",
        "1.8.1=12.5",
        "--final",
        "1.8.2=3",
        "--start",
        "1.8.1=0",
        "--start",
        "1.8.2=0",
        stdout=out,
    )
    assert f"Meter {old} replaced by NEW-7" in out.getvalue()
    assert Meter.objects.get(serial="NEW-7").registers == ["1.8.1", "1.8.2"]
    assert Reading.objects.filter(meter__serial=old).get(register="1.8.1").value_milli == 12_500
    with pytest.raises(CommandError, match="déjà été retiré"):
        call_command(
            "exchange-meter",
            sp.ean,
            old,
            "NEW-8",
            "--at",
            "2026-11-28T11:00:00+01:00",
            "--final",
            "1.8.1=13",
            "--final",
            "1.8.2=3",
            "--start",
            "1.8.1=0",
        )
    with pytest.raises(CommandError, match="REGISTER=INDEX"):
        call_command(
            "exchange-meter",
            sp.ean,
            "NEW-7",
            "NEW-8",
            "--at",
            "2026-11-28T11:00:00+01:00",
            "--final",
            "1.8.1",
            "--start",
            "1.8.1=0",
        )
