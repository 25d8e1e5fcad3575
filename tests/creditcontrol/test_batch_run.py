"""The batch run decides, account by account, what the pure rules say (random accounts).

`credit_control._run` reads each chunk of accounts (sorted, an id range) in ONE SQL query (the
meter in place, its pending relay orders as a bit mask, the operator's pause, the balance's latest
posting, whether the closed day's display is already issued) and writes tuples. Here each
account's state is read again one by one through the ORM, `rules.credit_verdict` and
`rules.display_rule` are asked about it, and the run must have recorded exactly those decisions,
with the orders they imply, and issued exactly those displays (an order each, no decision row).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from solde import clock
from solde.ledger.models import Entry
from solde.orders.models import PENDING_STATUSES, RELAY_KINDS, Order
from solde.prepayment import credit_control, rules
from solde.prepayment.models import CreditDecision, PrepaymentAccount
from solde.registry.models import Dso, Meter

from .conftest import move_balance

pytestmark = pytest.mark.django_db

_serials = count(1)
DAY = date(2026, 12, 1)

# A meter's relay orders, pending or not (a final status must not count).
relay_orders = st.lists(
    st.tuples(
        st.sampled_from(["disconnect", "limit_power", "reconnect", "remove_limit"]),
        st.sampled_from(["created", "sent", "acknowledged", "acknowledged", "executed", "failed"]),
    ),
    max_size=2,
    unique_by=lambda o: o[0],
)
accounts = st.fixed_dictionaries(
    {
        "energy": st.sampled_from(["electricity", "gas"]),
        "protected": st.booleans(),
        # Around 0 and around exhaustion (−limit is −12 € or −15 €).
        "balance": st.one_of(st.integers(-3000, 3000), st.integers(-1600, -1100)),
        "supply": st.sampled_from(
            ["connected", "connected", "disconnected", "limited", "ready_for_reconnection"]
        ),
        "orders": relay_orders,
        # Interruptions paused until: yesterday, today, tomorrow (days from today), or not.
        "paused": st.sampled_from([None, None, -1, 0, 1]),
        # The meter in place: the first one, a replacement (the old one removed), or none.
        "meter": st.sampled_from(["first", "first", "replaced", "none"]),
        "decided": st.booleans(),  # already decided for the closed day (a rerun)
        # The latest posting (what a balance change's display looks at): up or down.
        "last": st.sampled_from([0, -800, 800, 2000]),
    }
)
# Daytime and night instants over a year: windows, weekends, holidays, gas winter.
instants = st.builds(
    lambda d, m: datetime(2026, 1, 1, tzinfo=clock.BRUSSELS) + timedelta(days=d, minutes=m),
    st.integers(0, 365),
    st.sampled_from([30, 7 * 60 + 59, 8 * 60, 10 * 60, 15 * 60 + 59, 16 * 60, 23 * 60]),
)


def _prepare(make_account, spec: dict, now: datetime) -> PrepaymentAccount:
    acc = make_account(
        spec["balance"], energy=spec["energy"], protected=spec["protected"], supply=spec["supply"]
    )
    if spec["last"]:
        move_balance(acc, spec["last"])
    sp = acc.supply_point
    meter = sp.meters.get()
    if spec["meter"] != "first":
        Meter.objects.filter(pk=meter.pk).update(removed_at=now - timedelta(days=1))
        if spec["meter"] == "replaced":
            # The removed meter's pending orders must not count for the new one.
            Order.objects.create(meter=meter, kind="disconnect", created_at=now, updated_at=now)
            meter = Meter.objects.create(
                serial=f"R{next(_serials):07d}", supply_point=sp, registers=meter.registers
            )
    for kind, status in spec["orders"]:
        Order.objects.create(meter=meter, kind=kind, status=status, created_at=now, updated_at=now)
    if spec["paused"] is not None:
        acc.interruptions_paused_until = clock.local_date(now) + timedelta(days=spec["paused"])
        acc.save(update_fields=["interruptions_paused_until"])
    return acc


def _expected(
    acc: PrepaymentAccount, trigger: str, now: datetime, decided: bool
) -> tuple[list, list]:
    """What the pure rules decide for this account, its state read through the ORM: its
    decisions, and its display (reason, params, key) if any."""
    acc = PrepaymentAccount.objects.select_related("supply_point__dso", "balance_account").get(
        pk=acc.pk
    )
    sp, dso = acc.supply_point, acc.supply_point.dso
    meter = Meter.objects.filter(supply_point=sp, removed_at__isnull=True).order_by("-pk").first()
    if meter is None or (trigger == "close" and decided):
        return [], []
    pending = set(
        Order.objects.filter(
            meter=meter, status__in=PENDING_STATUSES, kind__in=RELAY_KINDS
        ).values_list("kind", flat=True)
    )
    today = clock.local_date(now)
    balance = acc.balance_account.balance_cents
    limit = dso.emergency_credit_cents(sp.energy)
    paused = acc.interruptions_paused_until is not None and acc.interruptions_paused_until >= today
    in_window = rules.in_allowed_window(now, dso)
    verdict = rules.credit_verdict(
        balance_cents=balance,
        limit_cents=limit,
        supply=acc.supply,
        pending_kinds=pending,
        held=False,
        energy=sp.energy,
        protected=sp.protected,
        local_day=today,
        in_window=in_window,
        dso=dso,
        paused=paused,
    )
    out = []
    if verdict is not None:
        out.append((verdict.decision, verdict.action, verdict.rule, meter.pk))
    last = Entry.objects.filter(account=acc.balance_account).order_by("-pk").first()
    mode = {"close": "close", "window": None}.get(trigger, "change")
    interrupted = rules.interruption_state(acc.supply, pending) is not None
    rule = rules.display_rule(mode, balance, interrupted, last.amount_cents if last else None)
    shown = []
    if rule is not None:
        params = credit_control.display_params(balance, limit, acc.balance_account.updated_at)
        key = f"close:{DAY}:{acc.pk}:display_balance" if trigger == "close" else None
        shown.append((meter.pk, f"{rule} ({trigger})", params, key))
    return out, shown


def spec(**changes) -> dict:
    base = {
        "energy": "electricity",
        "protected": False,
        "balance": 500,
        "supply": "connected",
        "orders": [],
        "paused": None,
        "meter": "first",
        "decided": False,
        "last": 0,
    }
    return {**base, **changes}


IN_WINDOW = datetime(2026, 12, 2, 10, 0, tzinfo=clock.BRUSSELS)  # a Wednesday, in winter
# The cases the batch read could get wrong, always tried (hypothesis adds random ones).
EXAMPLES = [
    # A relay order acknowledged by the meter is still pending: back at ≥ 0, restore.
    ([spec(orders=[("disconnect", "acknowledged")])], IN_WINDOW, "window"),
    ([spec(orders=[("limit_power", "sent"), ("remove_limit", "executed")])], IN_WINDOW, "close"),
    # Only the meter in place counts: the removed one's pending disconnect does not.
    (
        [spec(balance=-1300, meter="replaced"), spec(balance=-1300, meter="none")],
        IN_WINDOW,
        "window",
    ),
    # Paused until today still pauses; until yesterday no longer.
    ([spec(balance=-1300, paused=0), spec(balance=-1300, paused=-1)], IN_WINDOW, "window"),
    # A rerun after a crash decides only the accounts not decided for the day (their display
    # for the day issued), whatever their state.
    ([spec(decided=True), spec(balance=-1300, decided=False)], IN_WINDOW, "close"),
    ([spec(balance=-1300, decided=True, meter="replaced")], IN_WINDOW, "close"),
    # A top-up's display looks at the balance before the latest posting.
    (
        [spec(balance=-300, last=800), spec(balance=300, last=800), spec(balance=300)],
        IN_WINDOW,
        "adjustment",
    ),
    (
        [spec(supply="ready_for_reconnection"), spec(supply="limited", balance=-50)],
        IN_WINDOW,
        "adjustment",
    ),
]


def with_examples(test):
    for specs, when, trigger in EXAMPLES:
        test = example(specs=specs, when=when, trigger=trigger)(test)
    return test


@with_examples
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(accounts, min_size=1, max_size=6),
    when=instants,
    trigger=st.sampled_from(["close", "window", "adjustment"]),
)
def test_each_decision_of_the_batch_run_is_the_pure_rules_on_that_account(
    make_account, specs, when, trigger
):
    with transaction.atomic():
        # The guard out of the way: this compares decisions, the mass-cut tests hold runs.
        Dso.objects.update(mass_cut_percent=100, mass_cut_minimum=10_000)
        with clock.freeze(when):
            now = clock.now()
            accs = [_prepare(make_account, spec, now) for spec in specs]
            for acc, spec in zip(accs, specs, strict=True):
                if spec["decided"]:  # its display for the day issued before a crash
                    Order.objects.create(
                        meter=acc.supply_point.meters.order_by("-pk").first(),
                        kind="display_balance",
                        created_at=now,
                        updated_at=now,
                        key=f"close:{DAY}:{acc.pk}:display_balance",
                    )
            expected = {
                acc.pk: _expected(acc, trigger, now, spec["decided"])
                for acc, spec in zip(accs, specs, strict=True)
            }
            since = CreditDecision.objects.order_by("-pk").values_list("pk", flat=True).first()
            since_order = Order.objects.order_by("-pk").values_list("pk", flat=True).first()
            credit_control.evaluate(
                [a.pk for a in accs], trigger, day=DAY if trigger == "close" else None
            )
            for acc in accs:
                got = [
                    (d.decision, d.action, d.rule, d.order.meter_id if d.order else None)
                    for d in CreditDecision.objects.filter(account=acc, pk__gt=since or 0)
                    .select_related("order")
                    .order_by("pk")
                ]
                # An interruption and a reconnection each carry their order; a friendly
                # credit or a no-interruption none (the meter is unchanged).
                decided, shown = expected[acc.pk]
                assert [(d, a, r, m if d in ORDERED else None) for d, a, r, m in got] == [
                    (d, a, r, m if d in ORDERED else None) for d, a, r, m in decided
                ], acc.pk
                # A display is an order alone: the rule its reason, keyed after a close.
                displays = Order.objects.filter(
                    meter__supply_point=acc.supply_point,
                    kind="display_balance",
                    pk__gt=since_order or 0,
                )
                assert [
                    (o.meter_id, o.reason, o.params, o.key) for o in displays.order_by("pk")
                ] == shown, acc.pk
                assert all(o.status == "created" for o in displays)
                for d in CreditDecision.objects.filter(account=acc, pk__gt=since or 0):
                    assert (d.order_id is not None) == (d.decision in ORDERED)
                    assert d.at == now and d.trigger == trigger
                    assert d.day == (DAY if trigger == "close" else None)
                    if d.order_id:
                        assert d.order.kind == d.action and d.order.status == "created"
        transaction.set_rollback(True)


ORDERED = {"interrupt", "reconnect"}


def test_the_run_reads_balance_instants_in_utc_on_every_database(make_account, at):
    """Page 1 of the display is the balance's last update in local time, whatever the
    database hands back (SQLite: naive UTC text)."""
    with clock.freeze(at("2026-12-01 00:30")):
        acc = make_account(500)
        credit_control.evaluate([acc.pk], "close", day=DAY)
    acc.balance_account.refresh_from_db()
    updated = acc.balance_account.updated_at.astimezone(UTC)
    order = Order.objects.get(kind="display_balance")
    assert order.params["1"] == clock.local(updated).isoformat(timespec="seconds")
    assert order.params["1"].endswith("+01:00")


def test_a_run_of_many_chunks_decides_as_a_run_of_one(make_account, at, monkeypatch):
    """A big run reads and writes chunk after chunk (ranges of sorted ids, whatever order
    they came in): the same decisions and orders as a run read in one chunk, and nothing for
    an account inside a chunk's id range that the run was not asked about."""

    def decided():
        return sorted(
            CreditDecision.objects.filter(day=DAY).values_list(
                "account_id", "decision", "action", "rule", "balance_cents", "order__params"
            )
        ) + sorted(
            Order.objects.filter(kind="display_balance").values_list(
                "key", "kind", "reason", "params", "status"
            )
        )

    with clock.freeze(at("2026-12-01 00:30")):  # a Tuesday night: friendly credit, displays
        accs = [
            make_account(b, energy=e, protected=p, supply=s)
            for b, e, p, s in [
                (500, "electricity", False, "connected"),
                (-300, "gas", False, "connected"),
                (-1300, "electricity", False, "connected"),
                (-1600, "gas", True, "connected"),
                (700, "electricity", True, "limited"),
                (-2000, "electricity", False, "disconnected"),
                (0, "gas", False, "connected"),
            ]
        ]
        left_out = accs.pop(3)
        ids = [a.pk for a in accs]
        monkeypatch.setattr(credit_control, "_CHUNK", 3)
        with transaction.atomic():
            many = credit_control.evaluate(ids[::-1], "close", day=DAY)
            in_chunks = decided()
            transaction.set_rollback(True)
        monkeypatch.setattr(credit_control, "_CHUNK", 20_000)
        one = credit_control.evaluate(ids, "close", day=DAY)
    assert in_chunks == decided()
    # A display each; friendly credit (electricity, exhausted at night), the limiter removed
    # (back at ≥ 0); the protected gas account in winter was left out.
    assert Counter(d[1] for d in in_chunks) == {
        "display_balance": 6,
        "friendly_credit": 1,
        "reconnect": 1,
    }
    assert not CreditDecision.objects.filter(account=left_out).exists()
    assert not Order.objects.filter(meter__supply_point=left_out.supply_point).exists()
    assert (many.evaluated, many.displayed, many.friendly_credit, many.reconnected) == (
        one.evaluated,
        one.displayed,
        one.friendly_credit,
        one.reconnected,
    )


def test_a_big_chunk_leaves_the_callers_planner_settings_as_it_found_them():
    """PostgreSQL: a chunk's read turns hash and merge joins off for itself only.

    The caller's transaction goes on with what it had set (here hash joins off, merge joins
    on), not with the server's defaults."""
    from django.db import connection

    from tests.conftest import on_postgres

    if not on_postgres():
        pytest.skip("planner settings are PostgreSQL's")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_hashjoin = off")
        credit_control._rows(list(range(1, credit_control._CHUNK // 10 + 2)), False, DAY)
        cur.execute(
            "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"
        )
        assert cur.fetchone() == ("off", "on")
