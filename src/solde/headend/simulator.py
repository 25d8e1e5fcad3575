"""The meter fleet simulator: Siconia-like meters for the supply points in the database.

Each meter publishes cumulative indexes (electricity 1.8.1/1.8.2/2.8.1/2.8.2 every quarter
hour, gas 24.2.3 every hour) from a realistic load shape on the platform clock, answers orders
after a delay (acknowledgement, then execution), fails or stays silent at a configurable rate,
and models the relay (connected / disconnected / ready_for_reconnection until the button is
pressed), the power limiter (load capped at the limit) and the balance display (94.32.2).

State lives in `SimulatedMeter` rows so `solde meter show/press` work beside a running
simulator. The demo runs it as a process (`solde simulate`, Procfile.demo) over MQTT.

Like a real meter, what a meter sends up (readings, order results, events) is queued in its
outbox in the same transaction as the state it reports, and published after that commit: a
message the broker did not acknowledge stays queued and is sent again at the next step, so a
killed simulator or an absent broker delays what meters say but never loses it, and an order's
execution is never undone by a crash after its result left. With a journal (`--journal FILE`,
the chaos suite) every message the broker acknowledged is appended to the file, one JSON line
each, fsynced before it leaves the outbox: a record of what the fleet delivered.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction

from solde import clock
from solde.headend import topics
from solde.headend.adapters import Transport
from solde.headend.models import SimulatedMeter

log = logging.getLogger(__name__)

QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
UNIT = {"1.8.1": "kWh", "1.8.2": "kWh", "2.8.1": "kWh", "2.8.2": "kWh", "24.2.3": "m3"}
# Backlog after a clock jump: full resolution for the last day, then one index per midnight.
FULL_RESOLUTION = timedelta(days=1)
VOLTS = 230

# Relative household load by local hour (electricity) and gas demand by local hour.
ELEC_SHAPE = [
    0.55,
    0.5,
    0.5,
    0.5,
    0.5,
    0.55,
    0.75,
    1.0,
    1.1,
    0.85,
    0.8,
    0.85,
    1.0,
    0.95,
    0.8,
    0.8,
    0.9,
    1.2,
    1.7,
    1.8,
    1.6,
    1.4,
    1.0,
    0.7,
]
GAS_SHAPE = [
    0.4,
    0.4,
    0.4,
    0.4,
    0.5,
    0.9,
    1.8,
    1.9,
    1.5,
    1.0,
    0.8,
    0.8,
    0.8,
    0.8,
    0.8,
    0.9,
    1.1,
    1.5,
    1.6,
    1.5,
    1.3,
    1.1,
    0.8,
    0.5,
]


def _interval(energy: str) -> timedelta:
    return HOUR if energy == "gas" else QUARTER


def _floor(instant: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    ts = int(instant.timestamp())
    return datetime.fromtimestamp(ts - ts % seconds, tz=instant.tzinfo)


def _noise(serial: str, instant: datetime) -> random.Random:
    return random.Random(f"{serial}:{int(instant.timestamp())}")


def is_peak(instant: datetime) -> bool:
    """Day tariff (1.8.1 / 2.8.1): Monday–Friday 07:00–22:00 local."""
    local = clock.local(instant)
    return local.weekday() < 5 and 7 <= local.hour < 22


def electricity_kw(profile: dict, serial: str, instant: datetime) -> tuple[float, float]:
    """(household load kW, solar production kW) averaged over the quarter from `instant`."""
    local = clock.local(instant)
    rng = _noise(serial, instant)
    season = 1 + 0.25 * math.cos(2 * math.pi * (local.month - 1) / 12)
    weekend = 1.1 if local.weekday() >= 5 else 1.0
    mean_kw = profile.get("annual", 3500) / 8760
    load = mean_kw * ELEC_SHAPE[local.hour] * season * weekend * rng.uniform(0.6, 1.5)
    if rng.random() < 0.03:  # a kettle, an oven
        load += rng.uniform(1.5, 3.0)
    solar = 0.0
    kwp = profile.get("solar_kwp", 0)
    if kwp:
        doy = local.timetuple().tm_yday
        day_length = 12 - 4 * math.cos(2 * math.pi * (doy + 10) / 365)
        hour = local.hour + local.minute / 60 + 0.125
        sunrise = 13.5 - day_length / 2
        if sunrise < hour < sunrise + day_length:
            height = math.sin(math.pi * (hour - sunrise) / day_length)
            sun = 0.55 + 0.45 * math.cos(2 * math.pi * (doy - 172) / 365)  # June 1, Dec 0.1
            solar = kwp * 0.8 * height * sun * rng.uniform(0.3, 1.0)
    return load, solar


def gas_m3h(profile: dict, serial: str, instant: datetime) -> float:
    local = clock.local(instant)
    rng = _noise(serial, instant)
    heating = max(0.12, 1 + 0.95 * math.cos(2 * math.pi * (local.month - 1) / 12))
    return (
        profile.get("annual", 1200) / 8760 * GAS_SHAPE[local.hour] * heating * rng.uniform(0.7, 1.3)
    )


def advance_indexes(m: SimulatedMeter, start: datetime, end: datetime) -> None:
    """Add the energy of [start, end) to the meter's indexes, given its relay and limiter."""
    step = _interval(m.energy)
    t = start
    supplied = m.relay == "connected"
    while t < end:
        hours = (min(end, t + step) - t).total_seconds() / 3600
        if not supplied:
            pass  # relay open or armed: nothing flows (the inverter stops without grid too)
        elif m.energy == "gas":
            m.indexes["24.2.3"] = m.indexes.get("24.2.3", 0) + round(
                gas_m3h(m.profile, m.serial, t) * hours * 1000
            )
        else:
            load, solar = electricity_kw(m.profile, m.serial, t)
            if m.limiter_amps:
                load = min(load, m.limiter_amps * VOLTS / 1000)
            net = load - solar
            suffix = "1" if is_peak(t) else "2"
            register = ("1.8." if net >= 0 else "2.8.") + suffix
            m.indexes[register] = m.indexes.get(register, 0) + round(abs(net) * hours * 1000)
        t += step


def _value(milli: int) -> str:
    return f"{Decimal(milli) / 1000:.3f}"


class Journal:
    """An append-only file of what the fleet delivered: one JSON line per message the broker
    acknowledged (QoS 1 PUBACK), `{"meter", "leaf", "payload"}` plus, for an order result,
    `order_kind` and `again` (an answer repeated for an order sent again, nothing executed).
    Each batch is written, flushed and fsynced before its messages leave the outbox, so a line
    may repeat (killed between the two: the message is sent again) but none is missing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.file = self.path.open("ab")
        if self.file.tell():
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    # A line torn by a kill: end it, so the next one starts on its own line.
                    self.file.write(b"\n")

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        self.file.write(
            b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        )
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


@dataclass
class Simulator:
    transport: Transport
    failure_rate: float = 0.0
    ack_delay: float = 2.0  # seconds of platform time before the meter acknowledges
    exec_delay: float = 5.0  # … and before it reports the execution
    seed: int = 0
    serials: list[str] = field(default_factory=list)
    journal: str | os.PathLike | None = None  # append what the broker acknowledged

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._journal = Journal(self.journal) if self.journal else None
        self.executions: list[int] = []  # order ids executed by this fleet, in order (tests)
        self.inbox: queue.Queue[tuple[str, dict, Callable[[], None]]] = queue.Queue()
        self.transport.subscribe([topics.all_meters("orders")], self._receive)

    def _receive(self, topic: str, payload: dict, ack: Callable[[], None]) -> None:
        self.inbox.put((topic, payload, ack))

    # -- fleet ---------------------------------------------------------------------------------

    def setup(self, count: int | None = None, serials: list[str] | None = None) -> int:
        """Simulate `count` meters (or these serials) of the registry; returns how many."""
        from solde.registry.models import Meter

        qs = Meter.objects.filter(removed_at__isnull=True).select_related("supply_point")
        if serials:
            qs = qs.filter(serial__in=serials)
        meters = list(qs.order_by("pk")[:count] if count else qs.order_by("pk"))
        known = set(
            SimulatedMeter.objects.filter(serial__in=[m.serial for m in meters]).values_list(
                "serial", flat=True
            )
        )
        history = _last_indexes([m.pk for m in meters if m.serial not in known])
        new = []
        for m in meters:
            if m.serial in known:
                continue
            rng = random.Random(m.serial)
            energy = m.supply_point.energy
            profile: dict[str, float]
            if energy == "gas":
                profile = {"annual": rng.randint(600, 1800), "solar_kwp": 0}
                indexes = {"24.2.3": rng.randint(1_000, 30_000) * 1000}
            else:
                solar = rng.random() < 0.3
                profile = {
                    "annual": rng.randint(1800, 5500),
                    "solar_kwp": round(rng.uniform(2.5, 6.0), 1) if solar else 0,
                }
                indexes = {
                    "1.8.1": rng.randint(2_000, 40_000) * 1000,
                    "1.8.2": rng.randint(2_000, 40_000) * 1000,
                    "2.8.1": (rng.randint(500, 8_000) if solar else 0) * 1000,
                    "2.8.2": (rng.randint(100, 2_000) if solar else 0) * 1000,
                }
            registers = [r for r in (m.registers or list(indexes)) if r in indexes] or list(indexes)
            # A meter with a reading history (the demo's seeded days) goes on from its last
            # indexes: starting from drawn ones would be refused as going backwards, or charged
            # as one enormous quarter hour.
            last_at, last = history.get(m.pk, (None, {}))
            indexes.update({r: v for r, v in last.items() if r in indexes})
            new.append(
                SimulatedMeter(
                    serial=m.serial,
                    ean=m.supply_point.ean,
                    energy=energy,
                    registers=registers,
                    indexes=indexes,
                    profile=profile,
                    last_reading_at=last_at,
                )
            )
        SimulatedMeter.objects.bulk_create(new, ignore_conflicts=True)
        self.serials = [m.serial for m in meters]
        return len(self.serials)

    # -- the loop --------------------------------------------------------------------------------

    def step(self, now: datetime | None = None) -> dict:
        """Take the orders received, answer what is due, publish readings up to now."""
        now = now or clock.now()
        received = []
        while True:
            try:
                received.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        counts = {"orders": 0, "answers": 0, "readings": 0, "events": 0}
        with transaction.atomic():
            qs = SimulatedMeter.objects.filter(serial__in=self.serials)
            if connection.vendor == "postgresql":
                qs = qs.select_for_update()
            meters = {m.serial: m for m in qs}
            changed: set[str] = set()
            for topic, payload, _ in received:
                parsed = topics.parse(topic)
                if parsed and parsed[0] in meters:
                    self._take_order(meters[parsed[0]], payload, now)
                    changed.add(parsed[0])
                    counts["orders"] += 1
            for m in meters.values():
                answered = self._answer_due(m, now)
                if answered:
                    counts["answers"] += answered
                    changed.add(m.serial)
                published = self._publish_readings(m, now)
                if published:
                    counts["readings"] += published
                    changed.add(m.serial)
            for serial in changed:
                meters[serial].updated_at = now
            SimulatedMeter.objects.bulk_update(
                [meters[s] for s in changed],
                [
                    "relay",
                    "limiter_amps",
                    "payment_mode",
                    "display",
                    "indexes",
                    "last_reading_at",
                    "pending",
                    "answered",
                    "outbox",
                    "updated_at",
                ],
            )
        for _, _, ack in received:
            ack()
        # Published once the state they report is committed; what the broker does not take
        # stays queued for the next step.
        waiting = [m.serial for m in meters.values() if m.outbox]
        counts["events"] = self.flush(waiting)
        return counts

    def flush(self, serials: list[str]) -> int:
        """Publish these meters' outboxes (pipelined); what the broker acknowledged is
        journaled, then leaves the outbox. Returns the count of events (button presses) sent."""
        if not serials:
            return 0
        events = 0
        with transaction.atomic():
            qs = SimulatedMeter.objects.filter(serial__in=serials)
            if connection.vendor == "postgresql":
                qs = qs.select_for_update()
            meters = [m for m in qs.order_by("pk") if m.outbox]
            queued = [(m, msg) for m in meters for msg in m.outbox]
            if not queued:
                return 0
            taken = self.transport.publish_many(
                [(topics.meter_topic(m.serial, msg["leaf"]), msg["payload"]) for m, msg in queued]
            )
            delivered = [(m, msg) for (m, msg), ok in zip(queued, taken, strict=True) if ok]
            if self._journal is not None:
                self._journal.append([{"meter": m.serial, **msg} for m, msg in delivered])
            events = sum(msg["leaf"] == "events" for _, msg in delivered)
            left = iter(taken)
            for m in meters:
                m.outbox = [msg for msg in m.outbox if not next(left)]
            SimulatedMeter.objects.bulk_update(meters, ["outbox"])
        if len(delivered) < len(queued):
            log.warning(
                "%d of %d meter messages not taken by the broker; sent again at the next step",
                len(queued) - len(delivered),
                len(queued),
            )
        return events

    def _queue(self, m: SimulatedMeter, leaf: str, payload: dict, **extra: object) -> None:
        """What the meter sends up, queued with the state it reports (published after commit)."""
        m.outbox = [*m.outbox, {"leaf": leaf, "payload": payload, **extra}]

    def run(self, stop: Callable[[], bool], interval: float = 0.5) -> None:
        while not stop():
            try:
                self.step()
            except Exception:
                log.exception("simulator step failed")
            threading.Event().wait(interval)

    # -- orders ----------------------------------------------------------------------------------

    def _take_order(self, m: SimulatedMeter, order: dict, now: datetime) -> None:
        oid = str(order.get("order_id"))
        if oid in m.answered:
            # Sent again (retry, broker redelivery): answer again, execute nothing twice.
            self._send_result(m, {**m.answered[oid], "at": now.isoformat()}, order, again=True)
            return
        if any(p["order"].get("order_id") == order.get("order_id") for p in m.pending):
            return
        roll = self.rng.random()
        if roll < self.failure_rate / 2:
            return  # lost on the radio link: no answer at all
        fail = roll < self.failure_rate
        m.pending.append(
            {
                "due": (now + timedelta(seconds=self.ack_delay)).isoformat(),
                "step": "ack",
                "order": order,
            }
        )
        m.pending.append(
            {
                "due": (now + timedelta(seconds=max(self.exec_delay, self.ack_delay))).isoformat(),
                "step": "fail" if fail else "execute",
                "order": order,
            }
        )

    def _answer_due(self, m: SimulatedMeter, now: datetime) -> int:
        due = [p for p in m.pending if datetime.fromisoformat(p["due"]) <= now]
        if not due:
            return 0
        m.pending = [p for p in m.pending if p not in due]
        for p in due:
            order = p["order"]
            base = {"order_id": order.get("order_id"), "at": now.isoformat()}
            if p["step"] == "ack":
                self._send_result(m, {**base, "status": "acknowledged"}, order)
                continue
            if p["step"] == "fail":
                result = {**base, "status": "failed", "error": "relay did not switch (simulated)"}
            else:
                error = self._execute(m, order, now)
                self.executions.append(order.get("order_id"))
                result = {**base, "status": "failed" if error else "executed"}
                if error:
                    result["error"] = error
            result["state"] = m.state()
            m.answered[str(order.get("order_id"))] = result
            if len(m.answered) > 50:
                for key in list(m.answered)[:-50]:
                    del m.answered[key]
            self._send_result(m, result, order)
        return len(due)

    def _execute(self, m: SimulatedMeter, order: dict, now: datetime) -> str | None:
        kind, params = order.get("kind"), order.get("params") or {}
        expires = order.get("expires_at")
        if expires and datetime.fromisoformat(expires) < now:
            return "order expired before execution"
        self._catch_up(m, now)  # energy so far flowed under the old relay/limiter state
        if kind == "disconnect":
            m.relay = "disconnected"
        elif kind == "reconnect":
            # Armed remotely; the customer completes it with the button (RULES.md §7).
            if m.relay == "disconnected":
                m.relay = "ready_for_reconnection"
        elif kind == "limit_power":
            m.limiter_amps = int(params.get("amps") or 10)
        elif kind == "remove_limit":
            m.limiter_amps = None
        elif kind == "display_balance":
            # Named values, or the 94.32.2 sub-indexes "1", "2", "3" (both are accepted).
            m.display = {
                "updated_at": params.get("updated_at") or params.get("1") or now.isoformat(),
                "balance": params.get("balance") or params.get("2") or "",
                "emergency_credit": params.get("emergency_credit") or params.get("3") or "",
            }
        elif kind == "set_payment_mode":
            m.payment_mode = params.get("mode") or m.payment_mode
        elif kind == "read_now":
            self._publish_rows(m, [(now, dict(m.indexes))])
        else:
            return f"unknown order kind {kind}"
        return None

    def _send_result(
        self, m: SimulatedMeter, payload: dict, order: dict, again: bool = False
    ) -> None:
        extra = {"order_kind": order.get("kind")}
        self._queue(m, "order-results", payload, **extra, **({"again": True} if again else {}))

    # -- readings ----------------------------------------------------------------------------------

    def _catch_up(self, m: SimulatedMeter, now: datetime) -> None:
        """Publish readings up to now before the relay or limiter changes."""
        self._publish_readings(m, now)

    def _publish_readings(self, m: SimulatedMeter, now: datetime) -> int:
        step = _interval(m.energy)
        boundary = _floor(now, step)
        if m.last_reading_at is None:
            m.last_reading_at = boundary
            return self._publish_rows(m, [(boundary, dict(m.indexes))])
        if boundary <= m.last_reading_at:
            return 0
        points: list[tuple[datetime, dict]] = []
        t = m.last_reading_at
        full_from = boundary - FULL_RESOLUTION
        while t < boundary:
            nxt = t + step
            advance_indexes(m, t, nxt)
            local = clock.local(nxt)
            if nxt >= full_from or (local.hour == 0 and local.minute == 0):
                points.append((nxt, dict(m.indexes)))
            t = nxt
        m.last_reading_at = boundary
        return self._publish_rows(m, points)

    def _publish_rows(self, m: SimulatedMeter, points: list[tuple[datetime, dict]]) -> int:
        rows = [
            {
                "register": reg,
                "at": clock.local(at).isoformat(),
                "value": _value(idx[reg]),
                "unit": UNIT[reg],
            }
            for at, idx in points
            for reg in m.registers
            if reg in idx
        ]
        if rows:
            self._queue(m, "readings", {"meter": m.serial, "ean": m.ean, "readings": rows})
        return len(rows)


def _last_indexes(meter_ids: list[int]) -> dict[int, tuple[datetime, dict[str, int]]]:
    """Per meter, its last reading instant and each register's last index (one statement per
    batch, through the readings' (meter, register, at) index)."""
    from solde.readings.indexes import Probe, neighbours

    now = clock.now()
    probes = [Probe(pk, reg, now) for pk in meter_ids for reg in UNIT]
    out: dict[int, tuple[datetime, dict[str, int]]] = {}
    for probe, found in zip(probes, neighbours(probes), strict=True):
        if found.before is None:
            continue
        at, value = found.before
        last_at, indexes = out.get(probe.meter_id, (at, {}))
        indexes[probe.register] = value
        out[probe.meter_id] = (max(last_at, at), indexes)
    return out


# ---------------------------------------------------------------------------------------------
# What a person does at the meter, and what the meter shows
# ---------------------------------------------------------------------------------------------


class UnknownMeter(LookupError):
    pass


@transaction.atomic
def press_button(serial: str) -> tuple[str, str]:
    """The customer presses the meter's button. Returns the relay state (before, after).

    ready_for_reconnection → connected, reported up as an event (sent by the next simulator
    step, or at once by `solde meter press` over MQTT)."""
    m = SimulatedMeter.objects.select_for_update().filter(serial=serial).first()
    if m is None:
        raise UnknownMeter(serial)
    if m.relay != "ready_for_reconnection":
        return m.relay, m.relay
    now = clock.now()
    m.relay = "connected"
    m.outbox = [
        *m.outbox,
        {
            "leaf": "events",
            "payload": {
                "event_id": uuid.uuid4().hex,
                "type": "button_pressed",
                "meter": serial,
                "at": now.isoformat(),
                "state": m.state(),
            },
        },
    ]
    m.updated_at = now
    m.save(update_fields=["relay", "outbox", "updated_at"])
    return "ready_for_reconnection", m.relay


def flush_outbox(serial: str, transport: Transport) -> int:
    """Send a meter's pending events now (the CLI, when no simulator runs in this process)."""
    with transaction.atomic():
        m = SimulatedMeter.objects.select_for_update().get(serial=serial)
        sent = 0
        for msg in m.outbox:
            if transport.publish(topics.meter_topic(serial, msg["leaf"]), msg["payload"]):
                sent += 1
        if sent == len(m.outbox):
            m.outbox = []
            m.save(update_fields=["outbox"])
        return sent


def display_pages(serial: str) -> list[tuple[str, str]]:
    """The meter's display pages in order, as (OBIS code, text)."""
    m = SimulatedMeter.objects.filter(serial=serial).first()
    if m is None:
        raise UnknownMeter(serial)
    pages = [(reg, f"{_value(m.indexes.get(reg, 0))} {UNIT[reg]}") for reg in m.registers]
    d = m.display or {}
    when = ""
    if d.get("updated_at"):
        when = clock.local(datetime.fromisoformat(d["updated_at"])).strftime("%d-%m-%Y %H:%M")
    pages += [
        ("94.32.2.1", when or "--"),
        ("94.32.2.2", f"{d['balance']} €" if d.get("balance") else "--"),
        ("94.32.2.3", f"{d['emergency_credit']} €" if d.get("emergency_credit") else "--"),
    ]
    relay = {"connected": "ON", "disconnected": "OFF", "ready_for_reconnection": "PRESS"}
    pages.append(("relay", relay.get(m.relay, m.relay)))
    pages.append(("limiter", f"{m.limiter_amps} A" if m.limiter_amps else "--"))
    return pages
