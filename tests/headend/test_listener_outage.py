"""The listener acknowledges a message only after its effect committed: with the database
failing or away mid-stream, or the broker restarted, no reading or order result is lost and
none is applied twice (redelivered copies are absorbed by ingestion and the orders' idempotent
results)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db import DatabaseError, OperationalError, connection

from solde import clock
from solde.headend import listener as listener_module
from solde.headend import topics
from solde.headend.adapters import MqttTransport, forget_session
from solde.headend.listener import Listener
from solde.headend.models import DeadLetter
from solde.orders.models import Order, OrderEvent
from solde.orders.services import request_order
from solde.readings.models import Reading, RejectedReading
from tests.conftest import on_postgres

START = datetime(2026, 11, 27, 0, 0, tzinfo=clock.BRUSSELS)
REGISTERS = ("1.8.1", "1.8.2")


def readings_message(serial: str, i: int) -> dict:
    at = (START + timedelta(minutes=15 * i)).isoformat()
    return {
        "meter": serial,
        "readings": [
            {"register": r, "at": at, "value": f"{1000 + i}.{n:03d}", "unit": "kWh"}
            for n, r in enumerate(REGISTERS)
        ],
    }


def stored(serial: str) -> int:
    """Readings stored for the meter; -1 while the database does not answer."""
    try:
        return Reading.objects.filter(meter__serial=serial).count()
    except DatabaseError:
        connection.close()
        return -1


def order_status(pk: int) -> str:
    try:
        return Order.objects.get(pk=pk).status
    except DatabaseError:
        connection.close()
        return "?"


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(listener_module, "RETRY_FIRST", 0.05)


@pytest.fixture
def clock_at_noon():
    with clock.freeze(datetime(2026, 11, 28, 12, 0, tzinfo=clock.BRUSSELS)):
        yield


def _all_acknowledged(listener: Listener, seconds: float = 1.0) -> bool:
    """Reconnect and listen: a message left unacknowledged would come back now."""
    listener.transport.redeliver()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listener.process(wait=0.05):
            return False
    return True


@pytest.mark.django_db
def test_a_database_failure_leaves_messages_unacknowledged_and_they_come_back(
    headend, make_supply_point, clock_at_noon, fast_retry, monkeypatch
):
    sp = make_supply_point()
    meter = sp.meters.get()
    order = request_order(meter.pk, "display_balance", "after close")
    link = headend.transport("meter")
    # The database fails twice under ingestion, once under an order result.
    failures = {"ingest": 2, "result": 1}
    real_ingest, real_result = listener_module.ingest_readings, listener_module.orders.record_result

    def ingest(rows, source):
        if failures["ingest"]:
            failures["ingest"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return real_ingest(rows, source)

    def record_result(serial, payload):
        if failures["result"]:
            failures["result"] -= 1
            raise OperationalError("terminating connection due to administrator command")
        return real_result(serial, payload)

    monkeypatch.setattr(listener_module, "ingest_readings", ingest)
    monkeypatch.setattr(listener_module.orders, "record_result", record_result)
    for i in range(20):
        assert link.publish(topics.readings(meter.serial), readings_message(meter.serial, i))
    for status in ("acknowledged", "executed"):
        assert link.publish(topics.results(meter.serial), {"order_id": order.pk, "status": status})
    assert headend.pump(
        lambda: stored(meter.serial) == 40 and order_status(order.pk) == "executed", timeout=15
    )
    headend.settle(0.5)
    assert failures == {"ingest": 0, "result": 0}
    assert headend.listener.counts["database_failures"] == 3
    assert headend.listener.counts["redeliveries"] == 3
    assert stored(meter.serial) == 40  # none lost, none doubled
    assert not RejectedReading.objects.exists() and not DeadLetter.objects.exists()
    assert OrderEvent.objects.filter(order=order, status="executed").count() == 1
    assert _all_acknowledged(headend.listener)
    if headend.kind == "inprocess":
        assert headend.listener.transport.unacknowledged == 0
    link.close()


@pytest.mark.django_db
def test_a_message_that_fails_with_the_database_up_becomes_a_dead_letter(
    headend, make_supply_point, clock_at_noon, monkeypatch
):
    sp = make_supply_point()
    meter = sp.meters.get()

    def broken(serial, payload):
        raise KeyError("a bug in applying events")

    monkeypatch.setattr(listener_module.orders, "record_event", broken)
    link = headend.transport("meter")
    assert link.publish(topics.events(meter.serial), {"event_id": "e1", "type": "button_pressed"})
    assert link.publish(topics.readings(meter.serial), readings_message(meter.serial, 0))
    assert headend.pump(lambda: stored(meter.serial) == 2 and DeadLetter.objects.exists())
    letter = DeadLetter.objects.get()
    assert letter.topic == topics.events(meter.serial) and letter.payload["event_id"] == "e1"
    assert "KeyError" in letter.error
    assert _all_acknowledged(headend.listener)  # kept for an operator, not redelivered forever
    link.close()


@pytest.mark.django_db(transaction=True)
def test_listener_survives_its_database_backend_killed_and_connections_refused(
    mqtt, make_supply_point, clock_at_noon
):
    """PostgreSQL: the listener's backend is terminated mid-stream and the database refuses
    connections for a while; what arrived meanwhile is applied once it is back."""
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (the PostgreSQL pass of make test runs it)")
    import psycopg

    sp = make_supply_point()
    meter = sp.meters.get()
    order = request_order(meter.pk, "display_balance", "after close")
    link = mqtt.transport("meter")
    for i in range(10):
        assert link.publish(topics.readings(meter.serial), readings_message(meter.serial, i))
    assert mqtt.pump(lambda: stored(meter.serial) == 20, timeout=10)

    settings = connection.settings_dict
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    admin = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    name = settings["NAME"]
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        for i in range(10, 25):
            assert link.publish(topics.readings(meter.serial), readings_message(meter.serial, i))
        for status in ("acknowledged", "executed"):
            assert link.publish(
                topics.results(meter.serial), {"order_id": order.pk, "status": status}
            )
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            mqtt.listener.process(wait=0.05)
        assert mqtt.listener.recovering and mqtt.listener.counts["database_failures"] >= 1
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
    assert mqtt.pump(
        lambda: stored(meter.serial) == 50 and order_status(order.pk) == "executed", timeout=40
    )
    mqtt.settle(0.5)
    assert stored(meter.serial) == 50
    assert not RejectedReading.objects.exists() and not DeadLetter.objects.exists()
    assert OrderEvent.objects.filter(order=order, status="executed").count() == 1
    assert _all_acknowledged(mqtt.listener)
    link.close()


@pytest.mark.django_db
def test_broker_restart_with_messages_in_flight_loses_and_doubles_nothing(
    private_broker, make_supply_point, clock_at_noon
):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    listener = Listener(
        MqttTransport(private_broker.url, client_id="restart-listener", persistent=True),
        source="test",
    )
    link = MqttTransport(private_broker.url, client_id="restart-meter", persistent=True)
    try:
        assert link.wait_connected(5) and listener.transport.wait_connected(5)
        for i in range(10):
            assert link.publish(topics.readings(serial), readings_message(serial, i))
        # Received by the listener, not yet applied nor acknowledged…
        deadline = time.monotonic() + 5
        while listener.inbox.qsize() < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert listener.inbox.qsize() == 10
        private_broker.stop()  # …when the broker goes down, and comes back.
        private_broker.start()
        assert listener.transport.wait_connected(15) and link.wait_connected(15)
        for i in range(10, 20):
            assert link.publish(topics.readings(serial), readings_message(serial, i))
        deadline = time.monotonic() + 20
        while stored(serial) < 40 and time.monotonic() < deadline:
            listener.process(wait=0.05)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            listener.process(wait=0.05)
        assert stored(serial) == 40
        assert not RejectedReading.objects.exists() and not DeadLetter.objects.exists()
        # The ten in flight came twice (the copy from before the restart is applied, its ack
        # void on the new connection; the broker's redelivery is absorbed and acknowledged).
        assert listener.counts["readings"] >= 40
        assert _all_acknowledged(listener)
    finally:
        listener.transport.close()
        link.close()
        for cid in ("restart-listener", "restart-meter"):
            forget_session(private_broker.url, cid)
