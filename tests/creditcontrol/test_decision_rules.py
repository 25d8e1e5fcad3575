"""The §7 and §9 decisions as pure functions (no database): one copy each, used by credit
control, the held-run confirmation and the order dispatcher's send-time check."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest

from solde.clock import BRUSSELS
from solde.orders import rules as order_rules
from solde.prepayment import rules

DSO = SimpleNamespace(
    window_start_hour=8,
    window_end_hour=16,
    window_weekdays="0,1,2,3,4",
    limiter_amps=10,
    gas_winter_start="11-01",
    gas_winter_end="03-15",
)
WINTER, SUMMER = date(2026, 12, 2), date(2026, 6, 3)


def verdict(
    balance,
    supply="connected",
    pending=(),
    held=False,
    energy="electricity",
    protected=False,
    day=WINTER,
    in_window=True,
):
    return rules.credit_verdict(
        balance_cents=balance,
        limit_cents=1200,
        supply=supply,
        pending_kinds=set(pending),
        held=held,
        energy=energy,
        protected=protected,
        local_day=day,
        in_window=in_window,
        dso=DSO,
    )


def test_exhausted_means_at_or_below_minus_the_limit():
    assert rules.is_exhausted(-1200, 1200) and not rules.is_exhausted(-1199, 1200)


@pytest.mark.parametrize(
    ("supply", "pending", "state"),
    [
        ("connected", (), None),
        ("limited", (), "limit"),
        ("connected", ("limit_power",), "limit"),
        ("disconnected", (), "cut"),
        ("ready_for_reconnection", (), "cut"),
        ("connected", ("disconnect",), "cut"),
        ("connected", ("display_balance",), None),
    ],
)
def test_interruption_state_from_the_meter_or_a_pending_order(supply, pending, state):
    assert rules.interruption_state(supply, set(pending)) == state


def test_exhausted_in_a_window_is_a_disconnect_candidate():
    v = verdict(-1200)
    assert (v.decision, v.action) == ("interrupt", "disconnect")


def test_above_the_limit_nothing_is_decided():
    assert verdict(-1199) is None


def test_exhausted_outside_a_window_is_friendly_credit():
    v = verdict(-1500, in_window=False)
    assert (v.decision, v.action) == ("friendly_credit", "disconnect")


def test_protected_electricity_gets_the_limiter():
    v = verdict(-1500, protected=True)
    assert (v.decision, v.action) == ("interrupt", "limit_power")
    assert "limiter" in v.rule


def test_protected_gas_in_winter_is_not_interrupted_but_is_in_summer():
    assert verdict(-1600, energy="gas", protected=True).decision == "no_interruption"
    v = verdict(-1600, energy="gas", protected=True, day=SUMMER)
    assert (v.decision, v.action) == ("interrupt", "disconnect")


def test_held_or_already_interrupted_accounts_are_left_alone():
    assert verdict(-1500, held=True) is None
    assert verdict(-1500, supply="disconnected") is None
    assert verdict(-1500, pending=("disconnect",)) is None


@pytest.mark.parametrize(
    ("supply", "pending", "action"),
    [
        ("disconnected", (), "reconnect"),
        ("limited", (), "remove_limit"),
        ("connected", ("disconnect",), "reconnect"),  # supersedes the pending disconnect
        ("ready_for_reconnection", ("disconnect",), "reconnect"),
    ],
)
def test_back_to_zero_on_an_interrupted_account_restores_at_once_any_hour(supply, pending, action):
    v = verdict(0, supply=supply, pending=pending, in_window=False)
    assert (v.decision, v.action) == ("reconnect", action)


def test_no_second_restore_when_armed_or_already_ordered():
    assert verdict(0, supply="ready_for_reconnection") is None  # armed: the customer presses
    assert verdict(0, supply="disconnected", pending=("reconnect",)) is None
    assert verdict(-1, supply="disconnected") is None  # still negative: stays cut


def test_the_balance_display_rule():
    assert rules.display_rule("close", 5000, False, None) is not None  # daily, whatever
    assert rules.display_rule(None, -500, True, None) is None  # window runs show nothing
    assert rules.display_rule("change", 500, False, 200) is None  # in credit before and after
    assert rules.display_rule("change", 500, False, 1000) is not None  # was in emergency
    assert rules.display_rule("change", -100, False, 200) is not None  # still in emergency
    assert rules.display_rule("change", 500, True, 200) is not None  # interrupted


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({}, ""),
        ({"has_meter": False}, "no meter in place"),
        ({"balance_cents": -1000}, "§7: balance above −limit now, not interrupted"),
        ({"interrupted": True}, "already interrupted or ordered"),
        ({"action": None}, "§7: protected gas customer in the winter period, no interruption"),
        ({"in_window": False}, "§7: outside an allowed window"),
    ],
)
def test_confirming_a_held_run_checks_each_account_again(kwargs, why):
    args = {
        "has_meter": True,
        "balance_cents": -1500,
        "limit_cents": 1200,
        "interrupted": False,
        "action": "disconnect",
        "in_window": True,
    }
    assert rules.confirm_skip_reason(**{**args, **kwargs}) == why


def send(kind, balance=-1500, energy="electricity", protected=False, at="2026-12-02 10:00"):
    instant = datetime.fromisoformat(at).replace(tzinfo=BRUSSELS)
    return order_rules.send_verdict(
        kind,
        balance_cents=balance,
        limit_cents=1200,
        energy=energy,
        protected=protected,
        instant=instant,
        local_day=instant.date(),
        dso=DSO,
    )


def test_may_this_order_be_sent_now():
    assert send("disconnect") == ("send", "")
    assert send("display_balance", balance=10**6, at="2026-12-05 03:00") == ("send", "")
    assert send("reconnect", balance=0, at="2026-12-05 03:00") == ("send", "")
    assert send("disconnect", balance=-1199)[0] == "cancel"
    assert send("disconnect", balance=None)[0] == "cancel"  # no account any more
    assert send("disconnect", protected=True)[0] == "cancel"
    assert send("limit_power", protected=True) == ("send", "")
    assert send("disconnect", energy="gas", protected=True)[0] == "cancel"  # winter
    assert send("disconnect", energy="gas", protected=True, at="2027-06-02 10:00")[0] == "send"
    assert send("disconnect", at="2026-12-02 16:00") == (
        "hold",
        "held: outside the allowed interruption window",
    )
    assert send("disconnect", at="2026-12-25 10:00")[0] == "hold"  # Christmas


def test_which_order_supersedes_which():
    assert order_rules.supersedes("reconnect", "disconnect")
    assert order_rules.supersedes("disconnect", "reconnect")
    assert order_rules.supersedes("remove_limit", "limit_power")
    assert order_rules.supersedes("display_balance", "display_balance")
    assert not order_rules.supersedes("display_balance", "disconnect")
    assert not order_rules.supersedes("read_now", "read_now")
    assert not order_rules.supersedes("reconnect", "limit_power")
