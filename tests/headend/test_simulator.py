"""The simulated fleet: readings, relay and button, limiter, display, faults, and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from solde import clock
from solde.headend import topics
from solde.headend.adapters import InProcessTransport
from solde.headend.models import SimulatedMeter
from solde.headend.simulator import Simulator, press_button
from solde.notifications.models import Event
from solde.orders.models import MeterShadow, Order
from solde.orders.services import dispatch_due, request_order

pytestmark = pytest.mark.django_db


class Recorder:
    """Subscribes to what meters send up and keeps it."""

    def __init__(self, leaf: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.t = InProcessTransport()
        self.t.subscribe([topics.all_meters(leaf)], lambda t, p, ack: self.messages.append((t, p)))

    def rows(self) -> list[dict]:
        return [r for _, p in self.messages for r in p["readings"]]


def values(rows: list[dict], register: str) -> list[Decimal]:
    return [Decimal(r["value"]) for r in rows if r["register"] == register]


def test_electricity_meter_publishes_quarter_hourly_indexes(inprocess, make_supply_point, at):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    rec = Recorder("readings")
    sim = Simulator(InProcessTransport())
    with clock.freeze(at("2026-11-30 10:07")):
        sim.setup(serials=[serial])
        sim.step()
        clock.advance(timedelta(hours=2))
        sim.step()
    rows = rec.rows()
    instants = sorted({datetime.fromisoformat(r["at"]) for r in rows})
    assert instants[0] == at("2026-11-30 10:00")
    assert instants[-1] == at("2026-11-30 12:00")
    assert len(instants) == 9  # every quarter hour
    assert {r["register"] for r in rows} == {"1.8.1", "1.8.2", "2.8.1", "2.8.2"}
    assert all(r["unit"] == "kWh" for r in rows)
    assert all(p["ean"] == sp.ean for _, p in rec.messages)
    peak = values(rows, "1.8.1")
    assert peak == sorted(peak) and peak[-1] > peak[0]  # weekday daytime: the peak register
    assert values(rows, "1.8.2")[0] == values(rows, "1.8.2")[-1]


def test_solar_meter_injects_at_noon_in_june(inprocess, make_supply_point, at):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    rec = Recorder("readings")
    sim = Simulator(InProcessTransport())
    with clock.freeze(at("2026-06-15 10:00")):
        sim.setup(serials=[serial])
        SimulatedMeter.objects.filter(serial=serial).update(
            profile={"annual": 2000, "solar_kwp": 6.0}
        )
        sim.step()
        clock.advance(timedelta(hours=4))
        sim.step()
    injected = values(rec.rows(), "2.8.1")
    assert injected[-1] - injected[0] > Decimal("3")  # kWh pushed to the grid around noon


def test_gas_meter_publishes_hourly_m3(inprocess, make_supply_point, at):
    sp = make_supply_point(energy="gas")
    rec = Recorder("readings")
    sim = Simulator(InProcessTransport())
    with clock.freeze(at("2026-11-30 06:20")):
        sim.setup(serials=[sp.meters.get().serial])
        sim.step()
        clock.advance(timedelta(hours=3))
        sim.step()
    rows = rec.rows()
    assert [datetime.fromisoformat(r["at"]).minute for r in rows] == [0, 0, 0, 0]
    assert {(r["register"], r["unit"]) for r in rows} == {("24.2.3", "m3")}
    gas = values(rows, "24.2.3")
    assert gas == sorted(gas) and gas[-1] > gas[0]


def test_a_clock_jump_sends_midnight_indexes_then_the_last_day_in_full(
    inprocess, make_supply_point, at
):
    sp = make_supply_point()
    rec = Recorder("readings")
    sim = Simulator(InProcessTransport())
    with clock.freeze(at("2026-11-20 12:00")):
        sim.setup(serials=[sp.meters.get().serial])
        sim.step()
        clock.advance(timedelta(days=7))
        sim.step()
    instants = sorted({datetime.fromisoformat(r["at"]) for r in rec.rows()})
    midnights = [i for i in instants if clock.local(i).hour == 0 and clock.local(i).minute == 0]
    assert len(midnights) == 7
    assert len(instants) == 1 + 6 + 97  # start, six older midnights, the last 24 h in quarters


def test_relay_button_limiter_and_display(headend, account_with, at):
    with clock.freeze(at("2026-11-30 10:00")):
        acc = account_with(-1300)
        meter = acc.supply_point.meters.get()
        sim = headend.start_fleet([meter.serial])
        cut = request_order(meter.pk, "disconnect", "exhausted")
        dispatch_due()
        assert headend.pump(lambda: Order.objects.get(pk=cut.pk).status == "executed")
        m = SimulatedMeter.objects.get(serial=meter.serial)
        assert m.relay == "disconnected"
        frozen_index = dict(m.indexes)
        clock.advance(timedelta(hours=2))
        sim.step()
        assert SimulatedMeter.objects.get(serial=meter.serial).indexes == frozen_index

        back = request_order(meter.pk, "reconnect", "top-up")
        dispatch_due()
        assert headend.pump(lambda: Order.objects.get(pk=back.pk).status == "executed")
        assert SimulatedMeter.objects.get(serial=meter.serial).relay == "ready_for_reconnection"
        acc.refresh_from_db()
        assert acc.supply == "ready_for_reconnection"
        assert Event.objects.filter(kind="reconnection_ready").count() == 1

        call_command("meter", "press", meter.serial)
        assert headend.pump(
            lambda: MeterShadow.objects.get(meter=meter).reported_relay == "connected"
        )
        acc.refresh_from_db()
        assert acc.supply == "connected"
        assert press_button(meter.serial) == ("connected", "connected")  # nothing to do

        limit = request_order(meter.pk, "limit_power", "still exhausted", {"amps": 1})
        dispatch_due()
        assert headend.pump(lambda: Order.objects.get(pk=limit.pk).status == "executed")
        acc.refresh_from_db()
        assert acc.supply == "limited"
        # The load is capped at 1 A × 230 V = 0.23 kW: at most 57.5 Wh a quarter hour.
        before = SimulatedMeter.objects.get(serial=meter.serial).indexes
        clock.advance(timedelta(hours=3))
        sim.step()
        after = SimulatedMeter.objects.get(serial=meter.serial).indexes
        used = sum(after[r] - before[r] for r in ("1.8.1", "1.8.2"))
        assert 0 < used <= 12 * 58

        display = request_order(meter.pk, "display_balance", "after the top-up")
        dispatch_due()
        assert headend.pump(lambda: Order.objects.get(pk=display.pk).status == "executed")
        assert Order.objects.get(pk=display.pk).params["balance"] == "-13.00"


def test_meter_show_prints_the_display_pages(inprocess, account_with, at, capsys):
    with clock.freeze(at("2026-11-30 10:00")):
        acc = account_with(2345)
        meter = acc.supply_point.meters.get()
        inprocess.start_fleet([meter.serial])
        display = request_order(meter.pk, "display_balance", "after close")
        dispatch_due()
        assert inprocess.pump(lambda: Order.objects.get(pk=display.pk).status == "executed")
    call_command("meter", "show", meter.serial)
    out = capsys.readouterr().out
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()[1:]}
    assert list(lines)[:7] == [
        "1.8.1",
        "1.8.2",
        "2.8.1",
        "2.8.2",
        "94.32.2.1",
        "94.32.2.2",
        "94.32.2.3",
    ]
    assert lines["94.32.2.2"] == "23.45 €"
    assert lines["94.32.2.3"] == "12.00 €"
    assert lines["94.32.2.1"] == "30-11-2026 10:00"
    assert lines["relay"] == "ON"
    with pytest.raises(CommandError, match="No simulated meter"):
        call_command("meter", "show", "UNKNOWN")


def test_failing_meters_fail_or_stay_silent(inprocess, account_with, at):
    with clock.freeze(at("2026-11-30 10:00")):
        accounts = [account_with(500) for _ in range(12)]
        inprocess.sim_options.update(failure_rate=1.0, seed=3)
        inprocess.start_fleet([a.supply_point.meters.get().serial for a in accounts])
        orders = [
            request_order(a.supply_point.meters.get().pk, "display_balance", "x") for a in accounts
        ]
        assert dispatch_due() == 12
        inprocess.pump(timeout=0.2)
        got = [Order.objects.get(pk=o.pk).status for o in orders]
    assert set(got) == {"failed", "sent"}  # failed with an error, or no answer at all
    assert inprocess.sim.executions == []


def test_an_order_received_twice_is_executed_once_and_answered_again(
    inprocess, account_with, monday
):
    acc = account_with(500)
    meter = acc.supply_point.meters.get()
    sim = inprocess.start_fleet([meter.serial])
    order = request_order(meter.pk, "display_balance", "x")
    dispatch_due()
    assert inprocess.pump(lambda: Order.objects.get(pk=order.pk).status == "executed")
    Order.objects.filter(pk=order.pk).update(next_attempt_at=clock.now(), status="sent")
    dispatch_due()  # a retry whose first copy was executed
    inprocess.pump(timeout=0)
    assert sim.executions == [order.pk]
    assert Order.objects.get(pk=order.pk).status == "executed"


def test_mqtt_readings_go_through_ingestion(mqtt, make_supply_point, at):
    from solde.readings.models import Reading

    sp = make_supply_point()
    serial = sp.meters.get().serial
    with clock.freeze(at("2026-11-28 10:07")):
        mqtt.start_fleet([serial])
        mqtt.pump(lambda: Reading.objects.filter(meter__serial=serial).count() == 4)
        clock.advance(timedelta(minutes=15))
        assert mqtt.pump(lambda: Reading.objects.filter(meter__serial=serial).count() == 8)


def test_a_meter_with_history_goes_on_from_its_last_indexes(inprocess, make_supply_point, at):
    """The demo seeds weeks of readings before its fleet starts: the simulated meter must
    continue from the last indexes, not draw new ones (refused, or one enormous quarter)."""
    from solde.readings.models import Reading, RejectedReading
    from solde.readings.services import ingest

    sp = make_supply_point()
    serial = sp.meters.get().serial
    history = {"1.8.1": "1000.000", "1.8.2": "2000.000", "2.8.1": "0.000", "2.8.2": "0.000"}
    rows = [
        {"ean": sp.ean, "meter": serial, "register": reg, "at": when, "value": value, "unit": "kWh"}
        for when in ("2026-11-30T09:00:00+01:00", "2026-11-30T09:15:00+01:00")
        for reg, value in history.items()
    ]
    with clock.freeze(at("2026-11-30 10:07")):
        assert ingest(rows, "test").accepted == 8
        inprocess.start_fleet([serial])
        assert inprocess.pump(lambda: Reading.objects.filter(meter__serial=serial).count() == 20)
    assert not RejectedReading.objects.exists()
    day = Reading.objects.filter(meter__serial=serial, register="1.8.1").order_by("at")
    instants = [r.at for r in day]
    assert instants[2] == at("2026-11-30 09:30")  # the next quarter after the history
    assert instants[-1] == at("2026-11-30 10:00")
    kwh = (day.last().value_milli - 1_000_000) / 1000
    assert 0 < kwh < 10  # three quarters of a household's consumption, not a jump


class Unreachable:
    """A meter's link to the broker that can be cut: while `down`, nothing is acknowledged."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.down = False

    def publish_many(self, messages):
        return [False] * len(messages) if self.down else self.transport.publish_many(messages)

    def __getattr__(self, name):
        return getattr(self.transport, name)


def journal_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_what_the_broker_did_not_take_is_sent_again_and_only_what_it_took_is_journaled(
    inprocess, make_supply_point, at, tmp_path
):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    rec = Recorder("readings")
    link = Unreachable(InProcessTransport())
    journal = tmp_path / "meters.journal"
    sim = Simulator(link, journal=journal)
    with clock.freeze(at("2026-11-30 10:07")):
        sim.setup(serials=[serial])
        link.down = True
        sim.step()
        clock.advance(timedelta(minutes=30))
        sim.step()
        assert rec.messages == [] and journal_lines(journal) == []
        # Kept by the meter, not lost: 10:00, then 10:15 and 10:30.
        assert len(SimulatedMeter.objects.get(serial=serial).outbox) == 2
        link.down = False
        sim.step()
    assert SimulatedMeter.objects.get(serial=serial).outbox == []
    instants = sorted({r["at"] for r in rec.rows()})
    assert [datetime.fromisoformat(i) for i in instants] == [
        at("2026-11-30 10:00"),
        at("2026-11-30 10:15"),
        at("2026-11-30 10:30"),
    ]
    lines = journal_lines(journal)
    assert [(j["meter"], j["leaf"], j["payload"]) for j in lines] == [
        (serial, "readings", p) for _, p in rec.messages
    ]


def test_a_meter_whose_result_did_not_leave_answers_after_a_restart_executing_once(
    inprocess, account_with, monday, tmp_path
):
    """The meter executed and its process died before the result reached the broker: the
    result waits in its outbox (committed with the relay), goes out after the restart, and the
    order is executed once, as the platform records it."""
    from solde.orders.models import OrderEvent

    acc = account_with(-1300)
    meter = acc.supply_point.meters.get()
    journal = tmp_path / "meters.journal"
    inprocess.sim_options.update(journal=journal)
    sim = inprocess.start_fleet([meter.serial])
    sim.transport = link = Unreachable(sim.transport)
    link.down = True
    cut = request_order(meter.pk, "disconnect", "exhausted")
    dispatch_due()
    assert inprocess.pump(
        lambda: SimulatedMeter.objects.get(serial=meter.serial).relay == "disconnected"
    )
    assert Order.objects.get(pk=cut.pk).status == "sent"  # nothing came back yet
    sim = inprocess.restart_fleet()
    assert inprocess.pump(lambda: Order.objects.get(pk=cut.pk).status == "executed")
    assert sim.executions == [cut.pk]
    assert OrderEvent.objects.filter(order=cut, status="executed").count() == 1
    executed = [
        j
        for j in journal_lines(journal)
        if j["leaf"] == "order-results" and j["payload"]["status"] == "executed"
    ]
    assert [(j["payload"]["order_id"], j["order_kind"]) for j in executed] == [
        (cut.pk, "disconnect")
    ]


def test_a_journal_line_torn_by_a_kill_does_not_swallow_the_next(tmp_path):
    from solde.headend.simulator import Journal

    path = tmp_path / "meters.journal"
    path.write_bytes(b'{"meter":"A","leaf":"readings","payl')  # killed mid-write
    j = Journal(path)
    j.append([{"meter": "B", "leaf": "events", "payload": {}}])
    j.close()
    lines = path.read_bytes().splitlines()
    assert lines[0].startswith(b'{"meter":"A"')
    assert json.loads(lines[1]) == {"meter": "B", "leaf": "events", "payload": {}}
