"""Credit control decisions (RULES.md §7, §9 display), checked in the Order table."""

from __future__ import annotations

from datetime import UTC

import pytest

from solde import clock, schedule
from solde.notifications.models import Event
from solde.orders.models import Order
from solde.prepayment import credit_control
from solde.prepayment.models import CreditDecision, PrepaymentAccount
from solde.registry.models import Dso

from .conftest import move_balance, top_up

pytestmark = pytest.mark.django_db

RELAY = ("disconnect", "limit_power", "reconnect", "remove_limit")


def orders(acc, *kinds):
    qs = Order.objects.filter(meter__supply_point=acc.supply_point_id)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return list(qs.order_by("pk").values_list("kind", flat=True))


def decisions(acc):
    return list(
        CreditDecision.objects.filter(account=acc).order_by("pk").values_list("decision", flat=True)
    )


@pytest.fixture
def window_job(monkeypatch):
    """Only the credit-control window job is scheduled (other apps' jobs are theirs to test)."""
    monkeypatch.setattr(schedule, "JOBS", [credit_control.WINDOW_JOB])


def test_exhausted_on_friday_evening_waits_for_monday_0800(make_account, at, window_job):
    with clock.freeze(at("2026-12-04 18:00")):  # Friday
        schedule.run_due()
        acc = make_account(-1150)
        credit_control.decide_closed_day([{"day": f"{clock.today()}", "accounts": [acc.pk]}])
        assert orders(acc, *RELAY) == []
        move_balance(acc, -200)  # the weekend's consumption, closed on Saturday
        result = credit_control.evaluate([acc.pk], "close")
        assert result.friendly_credit == [acc.pk]
        assert orders(acc, *RELAY) == []
        decision = CreditDecision.objects.filter(account=acc, decision="friendly_credit").first()
        assert decision.next_window_at == at("2026-12-07 08:00")
        assert decision.in_window is False and decision.balance_cents == -1350
        coming = Event.objects.filter(kind="interruption_coming", supply_point=acc.supply_point)
        assert coming.count() == 1
    for when in ("2026-12-05 08:00", "2026-12-06 12:00", "2026-12-07 07:59"):
        with clock.freeze(at(when)):
            schedule.run_due()
            credit_control.evaluate([acc.pk], "close")
            assert orders(acc, *RELAY) == [], when
    with clock.freeze(at("2026-12-07 08:00")):
        schedule.run_due()
    assert orders(acc, *RELAY) == ["disconnect"]
    order = Order.objects.get(kind="disconnect")
    assert order.created_at == at("2026-12-07 08:00")
    last = CreditDecision.objects.filter(account=acc).latest("pk")
    assert (last.decision, last.trigger, last.in_window, last.order_id) == (
        "interrupt",
        "window",
        True,
        order.pk,
    )
    # The interruption-coming event is published once per exhaustion.
    assert Event.objects.filter(kind="interruption_coming").count() == 1
    # Already ordered: the next window does not order again.
    with clock.freeze(at("2026-12-08 08:00")):
        schedule.run_due()
    assert orders(acc, *RELAY) == ["disconnect"]


def test_window_job_on_easter_monday_waits_for_tuesday(make_account, at, window_job):
    with clock.freeze(at("2026-04-03 17:00")):
        schedule.run_due()
        acc = make_account(-1300)
    with clock.freeze(at("2026-04-06 12:00")):
        schedule.run_due()
    assert orders(acc, *RELAY) == []
    with clock.freeze(at("2026-04-07 08:00")):
        schedule.run_due()
    assert orders(acc, *RELAY) == ["disconnect"]


def test_late_catch_up_of_a_window_start_does_not_cut_outside_the_window(
    make_account, at, window_job
):
    with clock.freeze(at("2026-12-04 18:00")):
        schedule.run_due()
        acc = make_account(-1300)
    with clock.freeze(at("2026-12-07 17:00")):  # the scheduler was down all Monday
        assert schedule.run_due() >= 1
    assert orders(acc, *RELAY) == []
    assert decisions(acc)[-1] == "friendly_credit"


def test_exhausted_in_window_after_a_top_up_reversal_is_interrupted_at_once(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1000)
        move_balance(acc, -500, kind="adjustment")
    assert orders(acc, *RELAY) == ["disconnect"]


def test_protected_electricity_gets_the_limiter_never_a_disconnect(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1300, protected=True)
        credit_control.evaluate([acc.pk], "close")
    order = Order.objects.get(kind__in=RELAY)
    assert order.kind == "limit_power" and order.params == {"amps": 10}


def test_protected_gas_in_winter_is_not_interrupted(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1600, energy="gas", protected=True)
        credit_control.evaluate([acc.pk], "close")
    assert orders(acc, *RELAY) == []
    assert decisions(acc)[0] == "no_interruption"
    with clock.freeze(at("2027-06-02 10:00")):
        credit_control.evaluate([acc.pk], "window")
    assert orders(acc, *RELAY) == ["disconnect"]


def test_unprotected_gas_in_winter_is_disconnected(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1500, energy="gas")
        credit_control.evaluate([acc.pk], "close")
    assert orders(acc, *RELAY) == ["disconnect"]


def test_not_exhausted_is_not_interrupted(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1199)
        credit_control.evaluate([acc.pk], "window")
    assert orders(acc, *RELAY) == []


@pytest.mark.parametrize("when", ["2026-12-05 23:30", "2026-12-02 03:00", "2026-12-02 11:00"])
def test_reconnection_at_once_after_a_top_up_to_zero_or_more(make_account, at, when):
    with clock.freeze(at(when)):
        acc = make_account(-1400, supply="disconnected")
        assert top_up(acc, 1000) == -400
        assert orders(acc, *RELAY) == []  # still below 0: stays interrupted
        assert top_up(acc, 400) == 0
        assert orders(acc, *RELAY) == ["reconnect"]
        assert Order.objects.get(kind="reconnect").created_at == at(when)
        assert decisions(acc)[-1] == "reconnect"
        # The display that follows it is an order, recorded by itself (no decision row).
        assert orders(acc)[-2:] == ["reconnect", "display_balance"]


def test_limiter_is_removed_after_a_top_up(make_account, at):
    with clock.freeze(at("2026-12-06 02:00")):
        acc = make_account(-1300, protected=True, supply="limited")
        top_up(acc, 2000)
    assert orders(acc, *RELAY) == ["remove_limit"]


def test_top_up_supersedes_a_pending_disconnect(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1300)
        credit_control.evaluate([acc.pk], "window")
        top_up(acc, 2000)
    disconnect = Order.objects.get(kind="disconnect")
    reconnect = Order.objects.get(kind="reconnect")
    assert disconnect.status == "superseded" and disconnect.superseded_by_id == reconnect.pk


def test_armed_reconnection_is_not_ordered_again(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(500, supply="ready_for_reconnection")
        top_up(acc, 1000)
    assert orders(acc, *RELAY) == []


def test_display_after_the_close_for_every_closed_account(make_account, at):
    with clock.freeze(at("2026-12-02 00:30")):
        ok = make_account(2345)
        emergency = make_account(-310)
        day = f"{clock.today()}"
        credit_control.decide_closed_day([{"day": day, "accounts": [ok.pk, emergency.pk]}])
    shown = {
        o.meter.supply_point_id: o.params
        for o in Order.objects.filter(kind="display_balance").select_related("meter")
    }
    assert shown[ok.supply_point_id]["2"] == "23.45"
    assert shown[ok.supply_point_id]["3"] == "12.00"
    assert shown[emergency.supply_point_id]["2"] == "-3.10"
    assert shown[emergency.supply_point_id]["3"] == "8.90"
    assert shown[ok.supply_point_id]["1"].startswith("2026-12-02T00:30")
    # The order is the record of a display: its reason the rule, keyed to the closed day.
    display = Order.objects.get(kind="display_balance", meter__supply_point=ok.supply_point)
    assert display.reason == "§9: daily balance display after the close (close)"
    assert display.key == f"close:{day}:{ok.pk}:display_balance"
    assert decisions(ok) == []


def test_display_after_a_top_up_in_emergency_only(make_account, at):
    with clock.freeze(at("2026-12-02 19:00")):
        ok = make_account(2000)
        emergency = make_account(-500)
        top_up(ok, 1000)
        top_up(emergency, 2000)  # leaves emergency: the meter must stop showing it
    assert orders(ok) == []
    assert orders(emergency) == ["display_balance"]
    assert Order.objects.get().params["2"] == "15.00"


def test_a_new_display_supersedes_the_pending_one(make_account, at):
    with clock.freeze(at("2026-12-02 00:30")):
        acc = make_account(-500)
        credit_control.evaluate([acc.pk], "close")
        top_up(acc, 1000)
    first, second = Order.objects.filter(kind="display_balance").order_by("pk")
    assert first.status == "superseded" and second.status == "created"


def test_each_decision_is_recorded_with_its_reason(make_account, at):
    with clock.freeze(at("2026-12-02 10:00")):
        acc = make_account(-1300)
        credit_control.evaluate([acc.pk], "close")
    rows = {d.decision: d for d in CreditDecision.objects.filter(account=acc)}
    cut = rows["interrupt"]
    assert cut.trigger == "close" and cut.balance_cents == -1300 and cut.limit_cents == 1200
    assert cut.in_window and cut.order.kind == "disconnect" and cut.action == "disconnect"
    assert "allowed window" in cut.rule
    # The display is an order of its own, not a credit decision.
    assert set(rows) == {"interrupt"}
    assert orders(acc) == ["disconnect", "display_balance"]


def test_per_dso_limit_and_window(make_account, at):
    Dso.objects.filter(code="ORES").update(
        emergency_credit_electricity_cents=500, window_start_hour=10, window_end_hour=12
    )
    with clock.freeze(at("2026-12-02 09:00")):
        acc = make_account(-600, dso="ORES")
        credit_control.evaluate([acc.pk], "close")
        assert orders(acc, *RELAY) == []
    with clock.freeze(at("2026-12-02 10:00")):
        credit_control.evaluate([acc.pk], "window")
    assert orders(acc, *RELAY) == ["disconnect"]


def test_closed_and_pending_accounts_are_left_alone(make_account, make_supply_point, at):
    with clock.freeze(at("2026-12-02 10:00")):
        sp = make_supply_point()
        pending = PrepaymentAccount.objects.get(supply_point=sp)
        result = credit_control.evaluate([pending.pk], "close")
    assert result.evaluated == 0 and Order.objects.count() == 0


@pytest.mark.parametrize(
    "friday, monday, utc_hour",
    [("2026-03-27 18:00", "2026-03-30", 6), ("2026-10-23 18:00", "2026-10-26", 7)],
)
def test_window_job_across_the_dst_weekends(make_account, at, window_job, friday, monday, utc_hour):
    with clock.freeze(at(friday)):
        schedule.run_due()
        acc = make_account(-1300)
    with clock.freeze(at(f"{monday} 07:59")):
        schedule.run_due()
    assert orders(acc, *RELAY) == []
    with clock.freeze(at(f"{monday} 08:00")):
        schedule.run_due()
    order = Order.objects.get(kind="disconnect")
    assert order.created_at.astimezone(UTC).hour == utc_hour


def test_a_run_whose_candidates_were_all_topped_up_meanwhile_issues_nothing(
    make_account, at, monkeypatch
):
    """Every interruption candidate of a DSO was topped up between the run's read and its
    lock: nothing is issued, and the run's other decisions are recorded as they are (this
    crashed: the empty slice `decisions[-0:]` is the whole list)."""
    with clock.freeze(at("2026-12-02 10:00")):  # a Wednesday in the window, in winter
        gas = make_account(-1600, energy="gas", protected=True)  # no interruption: a decision
        topped_up = make_account(0)
        real_rows = credit_control._rows

        def stale_rows(*args, **kwargs):
            rows = real_rows(*args, **kwargs)
            for row in rows:
                if row.pk == topped_up.pk:
                    row.balance = -1500  # as read before the top-up committed
            return rows

        monkeypatch.setattr(credit_control, "_rows", stale_rows)
        result = credit_control.evaluate([gas.pk, topped_up.pk], "window")
    assert result.interrupted == [] and result.no_interruption == [gas.pk]
    assert decisions(gas) == ["no_interruption"]
    assert decisions(topped_up) == []
    assert Order.objects.filter(kind__in=RELAY).count() == 0
