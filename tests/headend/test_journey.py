"""A customer's weekend, end to end over the head-end (in-process and over Mosquitto), with the
orders credit control would issue: exhausted on Friday evening, still supplied all weekend, cut
on Monday 08:00, a retail top-up at 10:00 arms the reconnection, the button reconnects, the
display shows the new balance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction

from solde import clock
from solde.ledger.services import collections_account
from solde.notifications.models import Event
from solde.orders.models import Order
from solde.orders.services import dispatch_due, request_order, sweep
from solde.prepayment.services import credit

pytestmark = pytest.mark.django_db


def test_exhausted_on_friday_cut_on_monday_topped_up_and_reconnected(
    headend, account_with, at, capsys, django_capture_on_commit_callbacks
):
    with clock.freeze(at("2026-11-27 18:30")):  # Friday evening
        acc = account_with(-1250)  # below the 12 € emergency credit: exhausted
        meter = acc.supply_point.meters.get()
        sim = headend.start_fleet([meter.serial])
        early = request_order(meter.pk, "disconnect", "a decision taken too early")
        dispatch_due()
        assert Order.objects.get(pk=early.pk).status == "created"  # held: no window
        for day in ("2026-11-28 10:00", "2026-11-29 15:00"):  # the weekend
            with clock.freeze(at(day)):
                sweep()
                headend.pump(timeout=0.1)
        assert sim.executions == []
        assert Order.objects.get(pk=early.pk).status == "expired"  # never sent
        acc.refresh_from_db()
        assert acc.supply == "connected"

    with clock.freeze(at("2026-11-30 08:00")):  # Monday, the window opens
        cut = request_order(meter.pk, "disconnect", "exhausted at the window's start")
        dispatch_due()
        assert headend.pump(lambda: Order.objects.get(pk=cut.pk).status == "executed")
        acc.refresh_from_db()
        assert acc.supply == "disconnected"
        assert Event.objects.filter(kind="supply_interrupted", supply_point_id=acc.supply_point_id)

    with clock.freeze(at("2026-11-30 10:00")):  # a retail top-up of 20 €
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                balance, _ = credit(
                    acc,
                    2000,
                    key="retail-shop-42-981",
                    kind="topup",
                    counter_account_id=collections_account("retail").pk,
                )
                back = request_order(meter.pk, "reconnect", "top-up: balance 7.50 €")
                show = request_order(meter.pk, "display_balance", "top-up while interrupted")
        assert balance == 750
        assert headend.pump(
            lambda: Order.objects.filter(pk__in=[back.pk, show.pk], status="executed").count() == 2
        )
        acc.refresh_from_db()
        assert acc.supply == "ready_for_reconnection"
        assert Event.objects.filter(kind="reconnection_ready", supply_point_id=acc.supply_point_id)

        clock.advance(timedelta(minutes=7))  # the customer walks to the meter
        call_command("meter", "press", meter.serial)
        assert headend.pump(lambda: acc.__class__.objects.get(pk=acc.pk).supply == "connected")

    call_command("meter", "show", meter.serial)
    out = capsys.readouterr().out
    assert "94.32.2.2" in out and "7.50 €" in out
    assert "12.00 €" in out  # emergency credit back in full
    assert sim.executions == [cut.pk, back.pk, show.pk]
