"""Meter orders end to end: each test runs over the in-process head-end and a real Mosquitto."""

from __future__ import annotations

from datetime import timedelta

import pytest

from solde import clock
from solde.headend.models import SimulatedMeter
from solde.notifications.models import Event
from solde.orders.models import MeterShadow, Order, OrderEvent
from solde.orders.services import dispatch_due, record_result, request_order, sweep

pytestmark = pytest.mark.django_db

EXHAUSTED = -1300  # below the 12 € emergency credit of electricity


def statuses(order: Order) -> list[str]:
    return list(order.events.filter(kind="status").values_list("status", flat=True))


def test_status_ladder_created_sent_acknowledged_executed(headend, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    headend.sim_options.update(ack_delay=1, exec_delay=5)
    sim = headend.start_fleet([meter.serial])

    order = request_order(meter.pk, "disconnect", "exhausted on Monday 10:00")
    assert order.status == "created" and order.attempts == 0
    assert dispatch_due() == 1
    order.refresh_from_db()
    assert (order.status, order.attempts) == ("sent", 1)

    assert headend.pump(lambda: SimulatedMeter.objects.get(serial=meter.serial).pending)
    clock.advance(timedelta(seconds=1))
    assert headend.pump(lambda: Order.objects.get(pk=order.pk).status == "acknowledged")
    clock.advance(timedelta(seconds=5))
    assert headend.pump(lambda: Order.objects.get(pk=order.pk).status == "executed")
    order.refresh_from_db()
    assert statuses(order) == ["sent", "acknowledged", "executed"]
    assert order.sent_at <= order.acknowledged_at <= order.finished_at == order.updated_at
    assert order.attempts == 1

    acc.refresh_from_db()
    assert acc.supply == "disconnected"
    assert (
        Event.objects.filter(kind="supply_interrupted", supply_point=acc.supply_point).count() == 1
    )
    shadow = MeterShadow.objects.get(meter=meter)
    assert (shadow.desired_relay, shadow.reported_relay) == ("disconnected", "disconnected")
    assert sim.executions == [order.pk]


def test_reconnect_supersedes_pending_disconnect(inprocess, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    inprocess.start_fleet([meter.serial])
    cut = request_order(meter.pk, "disconnect", "exhausted")
    back = request_order(meter.pk, "reconnect", "top-up brought the balance to 5.00 €")
    cut.refresh_from_db()
    assert (cut.status, cut.superseded_by_id) == ("superseded", back.pk)
    assert dispatch_due() == 1
    assert inprocess.pump(lambda: Order.objects.get(pk=back.pk).status == "executed")
    assert inprocess.sim.executions == [back.pk]  # the disconnect never reached the meter
    assert MeterShadow.objects.get(meter=meter).desired_relay == "connected"


def test_one_relay_order_in_flight_per_meter(inprocess, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    inprocess.start_fleet([meter.serial])
    cut = request_order(meter.pk, "disconnect", "exhausted")
    assert dispatch_due() == 1
    inprocess.sim.inbox.queue.clear()  # the meter does not answer yet: in flight
    limit = request_order(meter.pk, "limit_power", "second relay order", {"amps": 6})
    display = request_order(meter.pk, "display_balance", "after close")
    assert dispatch_due() == 1  # the display goes; the limiter waits for the disconnect
    assert Order.objects.get(pk=limit.pk).status == "created"
    assert Order.objects.get(pk=display.pk).status == "sent"

    record_result(
        meter.serial, {"order_id": cut.pk, "status": "executed", "state": {"relay": "disconnected"}}
    )
    assert dispatch_due() == 1
    assert Order.objects.get(pk=limit.pk).status == "sent"


def test_unanswered_order_is_resent_with_exponential_backoff(headend, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "disconnect", "exhausted")  # no meter on the link
    start = clock.now()
    dispatch_due()
    order.refresh_from_db()
    assert order.attempts == 1
    waits = [(order.next_attempt_at - start).total_seconds()]
    for _ in range(3):
        due = order.next_attempt_at
        with clock.freeze(due - timedelta(seconds=1)):
            dispatch_due()
            assert Order.objects.get(pk=order.pk).attempts == len(waits)  # not yet
        with clock.freeze(due):
            dispatch_due()
        order.refresh_from_db()
        waits.append((order.next_attempt_at - due).total_seconds())
    assert waits == [30, 60, 120, 240]
    assert order.attempts == 4
    if headend.kind == "mqtt":  # the broker took every attempt: one "sent", then resends
        kinds = list(order.events.filter(status="sent").values_list("kind", flat=True))
        assert kinds == ["status", "resent", "resent", "resent"]


def test_meter_that_never_answers_expires_and_operator_sees_it(
    headend, monday, account_with, admin_client
):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "disconnect", "exhausted")
    dispatch_due()
    clock.advance(timedelta(hours=23))
    sweep()
    assert Order.objects.get(pk=order.pk).status in ("created", "sent")
    clock.advance(timedelta(hours=1, seconds=1))
    result = sweep()
    order.refresh_from_db()
    assert order.status == "expired" and result["expired"] == 1
    assert "expired" in statuses(order)
    page = admin_client.get("/admin/orders/order/?attention=expired")
    assert page.status_code == 200
    assert f"/admin/orders/order/{order.pk}/change/" in page.content.decode()
    page = admin_client.get("/admin/orders/order/?attention=pending")
    assert f"/admin/orders/order/{order.pk}/change/" not in page.content.decode()


def test_ack_for_an_unknown_order_is_ignored(headend, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "disconnect", "exhausted")
    dispatch_due()
    before = OrderEvent.objects.count()
    status = Order.objects.get(pk=order.pk).status
    t = headend.transport("rogue")
    from solde.headend import topics

    t.publish(topics.results(meter.serial), {"order_id": 987654, "status": "acknowledged"})
    t.publish(topics.results("NOPE"), {"order_id": order.pk, "status": "executed"})
    assert headend.pump(lambda: headend.listener.counts["ignored"] == 2)
    t.close()
    assert OrderEvent.objects.count() == before
    assert Order.objects.get(pk=order.pk).status == status


def test_duplicate_ack_changes_nothing(headend, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "disconnect", "exhausted")
    dispatch_due()
    t = headend.transport("meter")
    from solde.headend import topics

    t.publish(topics.results(meter.serial), {"order_id": order.pk, "status": "acknowledged"})
    assert headend.pump(lambda: Order.objects.get(pk=order.pk).status == "acknowledged")
    first = Order.objects.get(pk=order.pk)
    events = OrderEvent.objects.filter(order=order).count()
    clock.advance(timedelta(seconds=3))
    t.publish(topics.results(meter.serial), {"order_id": order.pk, "status": "acknowledged"})
    assert headend.pump(lambda: headend.listener.counts["results"] == 2)
    t.close()
    again = Order.objects.get(pk=order.pk)
    assert (again.status, again.updated_at, again.acknowledged_at) == (
        "acknowledged",
        first.updated_at,
        first.acknowledged_at,
    )
    assert OrderEvent.objects.filter(order=order).count() == events


def test_late_result_after_supersession_is_recorded_not_resurrected(headend, monday, account_with):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    cut = request_order(meter.pk, "disconnect", "exhausted")
    dispatch_due()
    t = headend.transport("meter")
    from solde.headend import topics

    t.publish(topics.results(meter.serial), {"order_id": cut.pk, "status": "acknowledged"})
    assert headend.pump(lambda: Order.objects.get(pk=cut.pk).status == "acknowledged")
    back = request_order(meter.pk, "reconnect", "top-up")
    assert Order.objects.get(pk=cut.pk).status == "superseded"
    clock.advance(timedelta(seconds=20))
    t.publish(
        topics.results(meter.serial),
        {
            "order_id": cut.pk,
            "status": "executed",
            "at": clock.now().isoformat(),
            "state": {"relay": "disconnected", "limiter_amps": None},
        },
    )
    assert headend.pump(lambda: OrderEvent.objects.filter(order=cut, kind="late_result").exists())
    t.close()
    cut.refresh_from_db()
    assert (cut.status, cut.superseded_by_id) == ("superseded", back.pk)
    shadow = MeterShadow.objects.get(meter=meter)
    assert shadow.reported_relay == "disconnected"  # what the meter really did
    acc.refresh_from_db()
    assert acc.supply == "disconnected"
    # The reconnect is still pending and goes out: the drift will be repaired.
    assert Order.objects.get(pk=back.pk).status == "created"
    dispatch_due()
    assert Order.objects.get(pk=back.pk).attempts == 1


def test_interruptions_are_checked_again_when_sent(inprocess, account_with, at):
    with clock.freeze(at("2026-11-30 10:00")):
        fine = account_with(500)
        protected = account_with(EXHAUSTED, protected=True)
        gas = account_with(-1600, energy="gas", protected=True)
        orders = [
            request_order(fine.supply_point.meters.get().pk, "disconnect", "stale decision"),
            request_order(protected.supply_point.meters.get().pk, "disconnect", "wrong kind"),
            request_order(gas.supply_point.meters.get().pk, "disconnect", "winter"),
        ]
        dispatch_due()
        for o in orders:
            o.refresh_from_db()
            assert o.status == "cancelled", o.detail
        assert "above the emergency credit limit" in orders[0].detail
    with clock.freeze(at("2026-11-28 17:00")):  # Saturday: no window
        cut = account_with(EXHAUSTED)
        order = request_order(cut.supply_point.meters.get().pk, "disconnect", "exhausted")
        assert dispatch_due() == 0
        order.refresh_from_db()
        assert order.status == "created" and "held" in order.detail
        assert order.next_attempt_at == clock.now() + timedelta(minutes=15)
    # A protected electricity customer gets the limiter, in the window.
    with clock.freeze(at("2026-11-30 08:00")):
        inprocess.start_fleet([protected.supply_point.meters.get().serial])
        limit = request_order(protected.supply_point.meters.get().pk, "limit_power", "exhausted")
        assert limit.params == {"amps": 10}
        assert dispatch_due() == 1
        assert inprocess.pump(lambda: Order.objects.get(pk=limit.pk).status == "executed")
        protected.refresh_from_db()
        assert protected.supply == "limited"
        assert Event.objects.filter(kind="limiter_on", supply_point=protected.supply_point).exists()


def test_reconciliation_reissues_what_drifted_once(inprocess, monday, account_with):
    acc = account_with(500)
    meter = acc.supply_point.meters.get()
    from solde.orders.services import reconcile, report_state

    report_state(meter.pk, {"relay": "connected", "limiter_amps": None}, clock.now())
    assert reconcile() == []  # in sync
    # The meter says it is open although nobody asked (local fault, manual intervention).
    clock.advance(timedelta(minutes=1))
    report_state(meter.pk, {"relay": "disconnected"}, clock.now())
    issued = reconcile()
    assert [o.kind for o in issued] == ["reconnect"]
    assert "reconciliation" in issued[0].reason
    assert reconcile() == []  # something is pending now
    Order.objects.filter(pk=issued[0].pk).update(status="expired")
    assert reconcile() == []  # at most once an hour
    clock.advance(timedelta(hours=1, minutes=1))
    assert [o.kind for o in reconcile()] == ["reconnect"]
    # Armed and waiting for the button is not a drift.
    Order.objects.update(status="executed")
    report_state(meter.pk, {"relay": "ready_for_reconnection"}, clock.now())
    clock.advance(timedelta(hours=2))
    assert reconcile() == []
    acc.refresh_from_db()
    assert acc.supply == "ready_for_reconnection"
    assert Event.objects.filter(kind="reconnection_ready", supply_point=acc.supply_point).exists()


def test_request_order_is_dispatched_right_after_the_commit(
    inprocess, monday, account_with, django_capture_on_commit_callbacks
):
    acc = account_with(0)
    meter = acc.supply_point.meters.get()
    inprocess.start_fleet([meter.serial])
    with django_capture_on_commit_callbacks(execute=True):
        order = request_order(meter.pk, "reconnect", "top-up")
        assert inprocess.sim.inbox.qsize() == 0  # nothing leaves before the commit
    assert Order.objects.get(pk=order.pk).status == "sent"
    assert inprocess.sim.inbox.qsize() == 1


def test_a_failed_dispatch_after_commit_is_written_on_the_order_and_the_sweep_resends(
    inprocess, monday, account_with, django_capture_on_commit_callbacks, monkeypatch
):
    from solde.headend import adapters

    acc = account_with(0)
    meter = acc.supply_point.meters.get()
    inprocess.start_fleet([meter.serial])

    class Down:
        def publish_many(self, messages):
            raise ConnectionError("broker unreachable")

    monkeypatch.setattr(adapters, "publisher", Down)
    with django_capture_on_commit_callbacks(execute=True):
        order = request_order(meter.pk, "reconnect", "top-up")  # the request still succeeds
    order.refresh_from_db()
    assert order.status == "created"
    assert order.detail.startswith("dispatch failed, retried by the sweep: ConnectionError")
    monkeypatch.undo()
    clock.advance(timedelta(minutes=1))
    sweep()
    order.refresh_from_db()
    assert order.status == "sent" and order.detail == ""


def test_operator_cancels_pending_orders_in_the_admin(
    inprocess, monday, account_with, admin_client
):
    acc = account_with(EXHAUSTED)
    meter = acc.supply_point.meters.get()
    order = request_order(meter.pk, "disconnect", "exhausted")
    done = request_order(meter.pk, "display_balance", "close")
    Order.objects.filter(pk=done.pk).update(status="executed")
    response = admin_client.post(
        "/admin/orders/order/",
        {"action": "cancel", "_selected_action": [order.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 order(s) cancelled" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert Order.objects.get(pk=done.pk).status == "executed"
    assert dispatch_due() == 0
    assert admin_client.get("/admin/orders/metershadow/?sync=drift").status_code == 200


def test_sweep_job_runs_every_minute_once_after_a_jump(at):
    from solde import schedule
    from solde.orders.tasks import every_minute_once

    assert any(j.name == "orders-sweep" for j in schedule.JOBS)
    start = at("2026-11-30 10:00:30")
    assert every_minute_once(start, start + timedelta(seconds=20)) == []
    assert every_minute_once(start, start + timedelta(days=3, seconds=40)) == [
        at("2026-12-03 10:01")
    ]


def test_request_orders_in_bulk_supersede_and_set_the_desired_state(
    inprocess, monday, account_with
):
    from solde.orders.services import request_orders

    accounts = [account_with(EXHAUSTED) for _ in range(3)]
    meters = [a.supply_point.meters.get() for a in accounts]
    old = request_order(meters[0].pk, "display_balance", "yesterday")
    cut = request_order(meters[1].pk, "disconnect", "exhausted")
    display = {"1": "2026-11-30T06:00:00+01:00", "2": "-13.00", "3": "0.00"}
    orders = request_orders(
        [(m.pk, "display_balance", "after the close", display) for m in meters]
        + [(meters[1].pk, "reconnect", "top-up", {})]
    )
    assert [o.kind for o in orders] == ["display_balance"] * 3 + ["reconnect"]
    assert all(o.pk and o.status == "created" for o in orders)
    assert Order.objects.get(pk=old.pk).superseded_by_id == orders[0].pk
    assert Order.objects.get(pk=cut.pk).superseded_by_id == orders[3].pk
    shadow = MeterShadow.objects.get(meter=meters[2])
    assert shadow.desired_display == display
    assert MeterShadow.objects.get(meter=meters[1]).desired_relay == "connected"
    # The meter shows the values it was given (94.32.2 sub-indexes accepted as keys).
    inprocess.start_fleet([meters[2].serial])
    dispatch_due()
    assert inprocess.pump(lambda: Order.objects.get(pk=orders[2].pk).status == "executed")
    assert Order.objects.get(pk=orders[2].pk).params == display
    from solde.headend.models import SimulatedMeter as Sim

    assert Sim.objects.get(serial=meters[2].serial).display == {
        "updated_at": "2026-11-30T06:00:00+01:00",
        "balance": "-13.00",
        "emergency_credit": "0.00",
    }
