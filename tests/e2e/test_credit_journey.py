"""Issue 4, end to end over Mosquitto, driven by the platform clock.

A simulated meter sends its readings over MQTT; the daily close charges them; the account runs
out on Friday evening, keeps its supply all weekend (friendly credit), is limited (protected
customer) or cut on Monday 08:00 by credit control's window job; a retail top-up through the
partner API at 10:00 brings the balance back above zero; the order reaches the meter, which
reports back; a cut supply is armed and the customer's button press reconnects it; the meter's
display (94.32.2) shows the new balance."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command

from solde import clock, schedule
from solde.headend.models import SimulatedMeter
from solde.headend.simulator import display_pages
from solde.notifications.models import Event
from solde.orders.models import Order
from solde.prepayment.models import CreditDecision, DayCharge, PrepaymentAccount
from solde.prepayment.services import balance_view

pytestmark = pytest.mark.django_db

RELAY = ("disconnect", "limit_power", "reconnect", "remove_limit")


@pytest.fixture
def platform(mqtt, django_capture_on_commit_callbacks):
    """tick(): what the platform does at the frozen instant — the meters' messages are applied,
    then every scheduled job that fell due runs (with its after-commit dispatches)."""

    def tick(until=None, timeout: float = 3.0) -> bool:
        mqtt.pump(timeout=0.3)  # readings and answers that arrived over the broker
        with django_capture_on_commit_callbacks(execute=True):
            schedule.run_due()
        if until is None:
            mqtt.settle()  # the orders' answers (balance displays)
            return True
        return mqtt.pump(until, timeout=timeout)

    return tick


def relay_orders(acc) -> list[tuple[str, str]]:
    qs = Order.objects.filter(meter__supply_point=acc.supply_point_id, kind__in=RELAY)
    return list(qs.order_by("pk").values_list("kind", "status"))


def events(acc, kind: str):
    return Event.objects.filter(kind=kind, supply_point_id=acc.supply_point_id)


def balance(acc) -> int:
    """The customer's balance in cents, as the API and the portal show it."""
    acc.refresh_from_db()
    return balance_view(acc).balance_cents


def page(serial: str, code: str) -> str:
    return dict(display_pages(serial))[code]


@pytest.mark.parametrize("protected", [False, True], ids=["cut", "limited"])
def test_out_on_friday_evening_back_on_monday_morning(
    mqtt,
    platform,
    make_supply_point,
    make_tariff,
    api,
    at,
    capsys,
    django_capture_on_commit_callbacks,
    protected,
):
    make_tariff("3.00")  # dear, so that one winter day empties the 10 € advance
    sp = make_supply_point(protected=protected, serial="E2E-0001", ean=None)
    serial = sp.meters.get().serial

    with clock.freeze(at("2026-11-27 00:00")):  # Friday, midnight: the meter is commissioned
        schedule.run_due()  # the platform's scheduler starts here
        sim = mqtt.start_fleet([serial])
        # A household without solar panels (the simulator's profile is otherwise drawn at random).
        SimulatedMeter.objects.filter(serial=serial).update(
            profile={"annual": 4000, "solar_kwp": 0}
        )
        acc = PrepaymentAccount.objects.get(supply_point=sp)
        assert mqtt.pump(lambda: PrepaymentAccount.objects.get(pk=acc.pk).state == "active")
        acc.refresh_from_db()
        assert balance(acc) == 1000  # the starting advance

    with clock.freeze(at("2026-11-27 19:00")):  # Friday evening: the platform has not closed yet
        platform()
        assert relay_orders(acc) == []

    with clock.freeze(at("2026-11-28 09:00")):  # Saturday: Friday was closed at 05:00
        # The close's balance display reaches the meter: it shows the debt.
        assert platform(lambda: page(serial, "94.32.2.2").startswith("-"))
        acc.refresh_from_db()
        friday = DayCharge.objects.get(account=acc, day="2026-11-27")
        assert friday.charge_cents > 2200  # more than the advance and the emergency credit
        assert balance(acc) <= -1200 and acc.credit_state == "exhausted"
        assert relay_orders(acc) == []  # no interruption in a weekend
        friendly = CreditDecision.objects.get(account=acc, decision="friendly_credit")
        assert friendly.next_window_at == at("2026-11-30 08:00")
        coming = events(acc, "interruption_coming").get()
        assert datetime.fromisoformat(coming.payload["at"]) == at("2026-11-30 08:00")

    for when in ("2026-11-29 12:00", "2026-11-30 07:59"):  # the rest of the weekend
        with clock.freeze(at(when)):
            platform()
            assert relay_orders(acc) == [], when
            assert PrepaymentAccount.objects.get(pk=acc.pk).supply == "connected"
            assert sim.executions == [
                pk for pk in sim.executions if Order.objects.get(pk=pk).kind == "display_balance"
            ]
    assert DayCharge.objects.filter(account=acc).count() == 3  # Friday, Saturday, Sunday closed
    assert events(acc, "interruption_coming").count() == 1

    interruption, supply = (
        ("limit_power", "limited") if protected else ("disconnect", "disconnected")
    )
    with clock.freeze(at("2026-11-30 08:00")):  # Monday, the window opens
        assert platform(lambda: relay_orders(acc) == [(interruption, "executed")])
        acc.refresh_from_db()
        assert acc.supply == supply
        cut = Order.objects.get(meter__supply_point=sp, kind=interruption)
        assert cut.created_at == at("2026-11-30 08:00")
        assert cut.pk in sim.executions  # the meter executed it
        if protected:
            assert cut.params["amps"] == sp.dso.limiter_amps
            assert page(serial, "limiter") == f"{sp.dso.limiter_amps} A"
            assert page(serial, "relay") == "ON"
            assert events(acc, "limiter_on").exists()
        else:
            assert page(serial, "relay") == "OFF"
            assert events(acc, "supply_interrupted").exists()
        debt = -balance(acc)

    with clock.freeze(at("2026-11-30 10:00")):  # the customer pays at a shop
        amount = (debt // 100 + 6) * 100  # the debt and a few euros more, in whole euros
        with django_capture_on_commit_callbacks(execute=True):
            response = api("topups")(
                "POST",
                "/api/v1/topups",
                json={
                    "reference": sp.customer_reference,
                    "amount": f"{amount // 100}.00",
                    "channel": "retail",
                    "partner_transaction_id": "shop-42-0981",
                },
            )
        assert response.status_code == 201, response.content
        receipt = response.json()
        new_balance = receipt["balance"]
        assert not new_balance.startswith("-")  # printed on the customer's receipt
        back = "remove_limit" if protected else "reconnect"
        assert mqtt.pump(lambda: (back, "executed") in relay_orders(acc))
        assert mqtt.pump(lambda: page(serial, "94.32.2.2") == f"{new_balance} €")
        acc.refresh_from_db()
        if protected:
            assert acc.supply == "connected"  # a limiter is lifted remotely, no button
            assert page(serial, "limiter") == "--"
        else:
            assert acc.supply == "ready_for_reconnection"
            assert events(acc, "reconnection_ready").exists()
            assert page(serial, "relay") == "PRESS"

            clock.advance(timedelta(minutes=7))  # the customer walks to the meter
            call_command("meter", "press", serial)
            assert mqtt.pump(lambda: PrepaymentAccount.objects.get(pk=acc.pk).supply == "connected")
            assert page(serial, "relay") == "ON"

    call_command("meter", "show", serial)
    out = capsys.readouterr().out
    assert f"{new_balance} €" in out
    assert "12.00 €" in out  # the emergency credit back in full
    assert "30-11-2026 10:00" in out  # when the balance was updated
    assert relay_orders(acc) == [(interruption, "executed"), (back, "executed")]
