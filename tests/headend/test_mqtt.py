"""Faults of the MQTT link, over the real Mosquitto (127.0.0.1:1883, or one of the test's own
that it restarts)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from solde import clock
from solde.headend import adapters, topics
from solde.headend.adapters import MqttTransport, publisher
from solde.orders.models import Order, OrderEvent
from solde.orders.services import dispatch_due, request_order
from tests.headend.support import BROKER, HeadEnd

pytestmark = pytest.mark.django_db


def _wait(cond, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def restartable(private_broker, settings, db):
    """The platform and a fleet on a Mosquitto of this test's own, which it may stop and start
    (the shared one on 127.0.0.1:1883 serves tests running beside it)."""
    settings.HEADEND_URL = private_broker.url
    adapters.reset()
    he = HeadEnd("mqtt", settings.HEADEND_TOPIC_PREFIX, broker=private_broker.url)
    yield he
    he.close()
    adapters.reset()


def test_broker_restart_mid_run_loses_nothing_and_doubles_nothing(
    restartable, private_broker, monday, account_with
):
    mqtt = restartable
    accounts = [account_with(500) for _ in range(6)]
    meters = [a.supply_point.meters.get() for a in accounts]
    mqtt.start_fleet([m.serial for m in meters])
    first = [request_order(m.pk, "display_balance", "after close") for m in meters[:3]]
    mqtt.stop_fleet()  # the meters are offline: their orders wait in their broker session
    assert dispatch_due() == 3
    try:
        private_broker.stop()
        # Decided while the broker is down: the dispatcher cannot send, the orders stay.
        second = [request_order(m.pk, "display_balance", "after close") for m in meters[3:]]
        assert dispatch_due() == 0
    finally:
        private_broker.start()
    assert all(Order.objects.get(pk=o.pk).status == "created" for o in second)
    assert _wait(lambda: publisher().connected)
    mqtt.restart_fleet()
    assert mqtt.listener.transport.wait_connected(10)
    # The orders queued for the offline meters survived the restart in the broker's session.
    assert mqtt.pump(
        lambda: all(Order.objects.get(pk=o.pk).status == "executed" for o in first), timeout=10
    )
    clock.advance(timedelta(seconds=31))  # past the first backoff: the others are resent
    assert dispatch_due() == 3
    orders = first + second
    assert mqtt.pump(
        lambda: all(Order.objects.get(pk=o.pk).status == "executed" for o in orders), timeout=15
    )
    mqtt.pump(timeout=0.5)  # any duplicate still in flight
    assert sorted(mqtt.sim.executions) == sorted(o.pk for o in orders)
    for o in orders:
        assert OrderEvent.objects.filter(order=o, status="executed").count() == 1
    assert [Order.objects.get(pk=o.pk).attempts for o in orders] == [1, 1, 1, 2, 2, 2]


def test_results_sent_while_the_listener_is_down_wait_for_it(mqtt, monday, account_with):
    acc = account_with(500)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "display_balance", "after close")
    dispatch_due()
    mqtt.listener.transport.close()  # the platform's listener stops; its session stays
    meter_link = MqttTransport(BROKER, client_id=f"meter-{meter.serial}-{mqtt.prefix}"[:60])
    assert meter_link.wait_connected(5)
    for status in ("acknowledged", "executed"):
        assert meter_link.publish(
            topics.results(meter.serial), {"order_id": order.pk, "status": status}
        )
    meter_link.close()
    from solde.headend.listener import Listener

    mqtt.listener = Listener(mqtt.transport("listener"), source="test")
    assert mqtt.pump(lambda: Order.objects.get(pk=order.pk).status == "executed", timeout=5)
