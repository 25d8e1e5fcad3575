"""Properties over random balances, calendars and customers (RULES.md §7 'Never')."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde import clock
from solde.orders.models import Order
from solde.prepayment import credit_control, rules
from solde.prepayment.models import PrepaymentAccount
from solde.registry.models import Dso

from .conftest import move_balance, top_up

pytestmark = pytest.mark.django_db

# Two years of instants, minute precision: weekends, holidays and both DST switches included.
START = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(0, 2 * 365 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
# Instants near the interesting edges: window openings/closings around DST and holidays.
edge_days = st.sampled_from(
    [
        "2026-03-27",
        "2026-03-29",
        "2026-03-30",
        "2026-04-06",
        "2026-05-25",
        "2026-10-23",
        "2026-10-25",
        "2026-10-26",
        "2026-11-02",
        "2026-11-11",
        "2027-03-15",
        "2027-03-16",
    ]
)
edge_times = st.sampled_from(["07:59", "08:00", "08:01", "15:59", "16:00", "23:59", "00:00"])
edge_instants = st.builds(
    lambda d, t: datetime.fromisoformat(f"{d} {t}").replace(tzinfo=clock.BRUSSELS),
    edge_days,
    edge_times,
)
# Daytime instants, where windows are: the interesting half of the calendar.
daytime_instants = st.builds(
    lambda d, m: (
        datetime(2026, 1, 1, tzinfo=clock.BRUSSELS) + timedelta(days=d, hours=7, minutes=m)
    ),
    st.integers(0, 2 * 365),
    st.integers(0, 10 * 60),
)
customers = st.fixed_dictionaries(
    {
        "energy": st.sampled_from(["electricity", "gas"]),
        "protected": st.booleans(),
        # Half of them at or around exhaustion (−limit is −12 € or −15 €).
        "balance": st.one_of(st.integers(-3000, 3000), st.integers(-1600, -1100)),
        "supply": st.sampled_from(["connected", "connected", "disconnected", "limited"]),
    }
)
calendars = st.fixed_dictionaries(
    {
        "window_start_hour": st.integers(6, 10),
        "window_end_hour": st.integers(12, 20),
        "window_weekdays": st.sampled_from(["0,1,2,3,4", "0,1,2,3,4,5,6", "1,3", "5,6"]),
        "gas_winter_start": st.sampled_from(["11-01", "12-01"]),
        "gas_winter_end": st.sampled_from(["03-15", "02-28"]),
    }
)


def check_interruption_orders(since_pk: int) -> None:
    """Every interruption order issued obeys the four 'never' rules of §7 at its instant."""
    for order in Order.objects.filter(
        pk__gt=since_pk, kind__in=("disconnect", "limit_power")
    ).select_related("meter__supply_point__dso"):
        sp = order.meter.supply_point
        dso = sp.dso
        assert rules.in_allowed_window(order.created_at, dso), order.created_at
        if sp.protected and sp.energy == "electricity":
            assert order.kind == "limit_power"
        if sp.protected and sp.energy == "gas":
            assert not rules.in_gas_winter(clock.local_date(order.created_at), dso)
        acc = PrepaymentAccount.objects.select_related("balance_account").get(supply_point=sp)
        decision = acc.credit_decisions.get(order=order)
        limit = dso.emergency_credit_cents(sp.energy)
        assert decision.balance_cents <= -limit
        # Nothing moved the balance after the order inside this example but what we checked.
        assert (
            acc.balance_account.balance_cents <= -limit
            or acc.credit_decisions.filter(decision="reconnect", pk__gt=decision.pk).exists()
        )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.lists(customers, min_size=1, max_size=3),
    calendar=calendars,
    when=st.one_of(instants, edge_instants, daytime_instants),
    trigger=st.sampled_from(["close", "window", "topup"]),
    topup=st.integers(1, 3000),
)
def test_no_interruption_order_ever_breaks_the_rules(
    make_account, people, calendar, when, trigger, topup
):
    with transaction.atomic():
        Dso.objects.filter(code="RESA").update(**calendar)
        since = Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with clock.freeze(when):
            accounts = []
            for p in people:
                acc = make_account(
                    p["balance"], energy=p["energy"], protected=p["protected"], supply=p["supply"]
                )
                accounts.append(acc)
            if trigger == "topup":
                for acc in accounts:
                    top_up(acc, topup)
            else:
                credit_control.evaluate([a.pk for a in accounts], trigger)
            check_interruption_orders(since)
            # And the converse: an exhausted, connected account whose rule allows an
            # interruption inside a window is interrupted in that very run.
            dso = Dso.objects.get(code="RESA")
            for acc, p in zip(accounts, people, strict=True):
                acc.refresh_from_db()
                balance = acc.balance_account.balance_cents
                action = rules.interruption_action(
                    p["energy"], p["protected"], clock.local_date(when), dso
                )
                should = (
                    p["supply"] == "connected"
                    and action is not None
                    and balance <= -dso.emergency_credit_cents(p["energy"])
                    and rules.in_allowed_window(when, dso)
                )
                cut = Order.objects.filter(
                    pk__gt=since,
                    meter__supply_point=acc.supply_point_id,
                    kind__in=("disconnect", "limit_power"),
                ).count()
                assert cut == (1 if should else 0)
                # An interrupted account at ≥ 0 gets its restore order at once, any hour.
                restores = Order.objects.filter(
                    pk__gt=since,
                    meter__supply_point=acc.supply_point_id,
                    kind__in=("reconnect", "remove_limit"),
                ).count()
                assert restores == (1 if p["supply"] != "connected" and balance >= 0 else 0)
        transaction.set_rollback(True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    balance=st.integers(-2400, -1200),
    debits=st.lists(st.integers(0, 400), min_size=1, max_size=6),
    hours=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    start=instants,
)
def test_across_a_sequence_of_runs_no_order_breaks_the_rules(
    make_account, balance, debits, hours, start
):
    """Balances falling and runs at random later instants (closes and window openings)."""
    with transaction.atomic():
        since = Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with clock.freeze(start):
            acc = make_account(balance + 1500)
            for debit, h in zip(debits, hours, strict=False):
                clock.advance(timedelta(hours=h))
                move_balance(acc, -debit)
                credit_control.evaluate([acc.pk], "close" if h % 2 else "window")
            check_interruption_orders(since)
        transaction.set_rollback(True)


@settings(max_examples=300, deadline=None)
@given(
    supply=st.sampled_from(["connected", "disconnected", "limited", "ready_for_reconnection"]),
    pending=st.frozensets(
        st.sampled_from(["disconnect", "limit_power", "reconnect", "remove_limit"])
    ),
    balance=st.integers(-3000, 3000),
    delta=st.integers(-3000, 3000),
    limit=st.sampled_from([0, 1200, 1500]),
    reason=st.sampled_from(["topup", "adjustment", "reversal", "advance_recovery"]),
    held=st.booleans(),
    paused=st.booleans(),
    in_window=st.booleans(),
    protected=st.booleans(),
    energy=st.sampled_from(["electricity", "gas"]),
    instant=instants,
)
def test_a_change_with_nothing_to_decide_has_no_verdict_and_no_display(
    supply,
    pending,
    balance,
    delta,
    limit,
    reason,
    held,
    paused,
    in_window,
    protected,
    energy,
    instant,
):
    """The top-up skips credit control only where its full run would decide nothing: no
    verdict whatever the window, the guard, the pause or the calendar, and no display."""
    facts = credit_control.Facts(supply, pending, limit)
    if not credit_control.nothing_to_decide(facts, reason, balance, delta):
        return
    verdict = rules.credit_verdict(
        balance_cents=balance,
        limit_cents=limit,
        supply=supply,
        pending_kinds=pending,
        held=held,
        energy=energy,
        protected=protected,
        local_day=clock.local_date(instant),
        in_window=in_window,
        dso=Dso(code="X"),
        paused=paused,
    )
    assert verdict is None
    interrupted = rules.interruption_state(supply, pending) is not None
    mode = None if reason in credit_control.NO_DISPLAY_REASONS else "change"
    assert rules.display_rule(mode, balance, interrupted, delta) is None
