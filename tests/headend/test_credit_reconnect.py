"""A top-up on an interrupted account: the reconnect credit control issues leaves right after
the commit (not a sweep later), with the balance display in the same publish round — in-process
and over Mosquitto."""

from __future__ import annotations

import pytest

from solde import clock
from solde.orders import services as orders
from solde.orders.models import Order, OrderEvent
from solde.topups.services import credit_topup

pytestmark = pytest.mark.django_db


def test_reconnect_issued_by_credit_control_is_dispatched_on_commit(
    headend, account_with, at, monkeypatch, django_capture_on_commit_callbacks
):
    rounds: list[list[int]] = []
    send = orders._dispatch_after_commit
    monkeypatch.setattr(
        orders, "_dispatch_after_commit", lambda ids: (rounds.append(ids), send(ids))
    )
    with clock.freeze(at("2026-11-28 22:00")):  # Saturday night: a reconnect needs no window
        acc = account_with(-1500)
        acc.supply = "disconnected"
        acc.save(update_fields=["supply"])
        meter = acc.supply_point.meters.get()
        sim = headend.start_fleet([meter.serial])
        with django_capture_on_commit_callbacks(execute=True):
            topup, created = credit_topup(acc, 2500, channel="retail", external_id="shop-7-1")
        assert created and topup.balance_after_cents == 1000
        back = Order.objects.get(meter=meter, kind="reconnect")
        show = Order.objects.get(meter=meter, kind="display_balance")
        # At the broker already, no sweep has run, and both went in one round.
        assert back.status == "sent" and show.status == "sent"
        assert back.attempts == 1 and show.attempts == 1
        assert sorted(rounds[0]) == sorted([back.pk, show.pk])
        assert headend.pump(
            lambda: Order.objects.filter(pk__in=[back.pk, show.pk], status="executed").count() == 2
        )
        assert sorted(sim.executions) == sorted([back.pk, show.pk])
        assert not OrderEvent.objects.filter(kind="resent").exists()


def test_orders_of_a_rolled_back_savepoint_do_not_hold_back_the_next_commit(
    inprocess, account_with, at, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with clock.freeze(at("2026-11-28 22:00")):
        acc = account_with(-1500)
        acc.supply = "disconnected"
        acc.save(update_fields=["supply"])
        meter = acc.supply_point.meters.get()
        inprocess.start_fleet([meter.serial])
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        orders.request_order(meter.pk, "read_now", "rolled back")
                        raise RuntimeError
                except RuntimeError:
                    pass
                back = orders.request_order(meter.pk, "reconnect", "kept")
        assert Order.objects.get(pk=back.pk).status == "sent"
        assert not Order.objects.filter(kind="read_now").exists()
