"""A meter's answer committed while the platform expires or supersedes the same order stands
(found by the chaos suite: an executed display rewritten as expired or superseded, though the
meter had executed it). PostgreSQL row locks; the SQLite pass skips (one writer at a time)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from solde import clock
from solde.orders.models import Order, OrderEvent
from solde.orders.services import expire_due, record_result, request_order
from tests.conftest import on_postgres


def _race(order: Order, platform) -> None:
    """The meter's answer (executed) is written and held uncommitted while `platform` runs in
    another thread and reads the order as pending; then the answer commits."""
    written, commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def meter_answers() -> None:
        try:
            with transaction.atomic():
                got = record_result(
                    order.meter.serial,
                    {"order_id": order.pk, "status": "executed", "at": clock.now().isoformat()},
                )
                assert got == "executed"
                written.set()
                commit.wait(10)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            written.set()
        finally:
            connection.close()

    def platform_acts() -> None:
        try:
            platform()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    answer = threading.Thread(target=meter_answers)
    answer.start()
    assert written.wait(10)
    acting = threading.Thread(target=platform_acts)
    acting.start()
    time.sleep(0.5)  # the platform has read the order as pending and waits on its row
    commit.set()
    answer.join(20)
    acting.join(20)
    assert not errors, errors


def _acknowledged_display(account_with) -> Order:
    acc = account_with(500)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "display_balance", "after the close")
    Order.objects.filter(pk=order.pk).update(status="acknowledged")
    return Order.objects.select_related("meter").get(pk=order.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_answer_committed_while_the_order_expires_stands(inprocess, monday, account_with):
    if not on_postgres():
        pytest.skip("row-lock race: runs on the PostgreSQL pass")
    order = _acknowledged_display(account_with)
    Order.objects.filter(pk=order.pk).update(expires_at=clock.now() - timedelta(minutes=1))
    _race(order, expire_due)
    order.refresh_from_db()
    assert order.status == "executed"
    assert not OrderEvent.objects.filter(order=order, status="expired").exists()
    assert OrderEvent.objects.filter(order=order, status="executed").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_answer_committed_while_a_newer_order_supersedes_it_stands(
    inprocess, monday, account_with
):
    if not on_postgres():
        pytest.skip("row-lock race: runs on the PostgreSQL pass")
    order = _acknowledged_display(account_with)
    newer: list[Order] = []
    _race(
        order,
        lambda: newer.append(request_order(order.meter_id, "display_balance", "a top-up")),
    )
    order.refresh_from_db()
    assert order.status == "executed" and order.superseded_by_id is None
    assert not OrderEvent.objects.filter(order=order, status="superseded").exists()
    assert Order.objects.get(pk=newer[0].pk).status in ("created", "sent")
