"""The listener sees a move of the simulation clock made by another process at once: an order
result applied right after `POST /api/v1/clock` jumped a day ahead is stamped with the new
day (a per-process clock cache stamped it up to a day early, before its own creation)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from solde import clock
from solde.headend import topics
from solde.orders.models import Order
from solde.orders.services import request_order
from tests.test_clock import move_elsewhere

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_a_result_after_a_jump_is_stamped_with_the_new_time(settings, inprocess, make_supply_point):
    settings.SIMULATION = True
    clock.set_simulated(T0, speed=0)
    meter = make_supply_point().meters.get()
    order = request_order(meter.pk, "display_balance", "after close")
    assert Order.objects.get(pk=order.pk).created_at == T0
    inprocess.listener.process()  # the listener has read the clock already

    def jump() -> None:  # another process (the API's clock endpoint) moves the shared row
        try:
            move_elsewhere(T0 + timedelta(days=1))
        finally:
            connection.close()

    t = threading.Thread(target=jump)
    t.start()
    t.join(10)
    link = inprocess.transport("meter")
    link.publish(topics.results(meter.serial), {"order_id": order.pk, "status": "executed"})
    assert inprocess.listener.process() == 1
    done = Order.objects.get(pk=order.pk)
    assert done.status == "executed"
    assert done.updated_at == done.finished_at == T0 + timedelta(days=1)
