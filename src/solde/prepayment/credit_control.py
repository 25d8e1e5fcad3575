"""Credit control (RULES.md §7 and the balance display of §9).

After each daily close (the "credit.close" work each closed chunk leaves, see solde.work), each
balance change (top-up, adjustment) and at the start of each allowed
window, `evaluate` reads the accounts whose state may change in one set-based pass and decides,
per account: nothing, an interruption (limiter or disconnect, only when exhausted and inside an
allowed window), friendly credit (exhausted outside a window: wait for the next window), a
reconnection (an interrupted account back at ≥ 0, at any hour) or a balance display. Orders are
written in the caller's transaction (outbox); every verdict on the credit state is recorded with
its reason (a CreditDecision); a balance display is recorded by its order alone, its reason the
display rule (0012).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Model, Q
from django.utils.translation import gettext

from solde import bulk, clock, faults, schedule, work  # bulk: also the `any_of` lookup
from solde.ledger.models import Entry, LedgerAccount
from solde.money import format_eur
from solde.notifications.events import publish_many
from solde.orders.models import PENDING_STATUSES, Order, OrderKind
from solde.orders.services import issue_orders
from solde.prepayment import rules
from solde.prepayment.models import (
    AccountState,
    CreditDecision,
    Decision,
    HeldRun,
    HeldRunStatus,
    PrepaymentAccount,
)
from solde.registry.models import Dso, Meter, SupplyPoint

CLOSE = "close"
WINDOW = "window"
CONFIRM = "confirm"
# Balance changes that say nothing new to the meter display (the close has its own signal).
NO_DISPLAY_REASONS = {"activation", "close", "charge", "advance_recovery", WINDOW, CONFIRM}

_RELAY_KINDS = (
    OrderKind.DISCONNECT,
    OrderKind.LIMIT_POWER,
    OrderKind.RECONNECT,
    OrderKind.REMOVE_LIMIT,
)
_CHUNK = 20000


class NotInWindow(Exception):
    """Held interruptions may be released only inside an allowed window."""


@dataclass
class RunResult:
    evaluated: int = 0
    interrupted: list[int] = field(default_factory=list)
    friendly_credit: list[int] = field(default_factory=list)
    no_interruption: list[int] = field(default_factory=list)
    held_runs: list[int] = field(default_factory=list)
    reconnected: list[int] = field(default_factory=list)
    displayed: int = 0
    skipped: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Row:
    """What one pass reads of an account (one query per chunk, `_rows`)."""

    pk: int
    supply: str
    supply_point_id: int
    energy: str
    protected: bool
    dso_id: str
    balance: int
    updated_at: datetime | None
    exhausted_since: datetime | None
    meter_id: int | None
    last_delta: int | None = None
    pending: frozenset[str] = frozenset()  # relay orders pending for the meter
    paused_until: date | None = None  # interruptions paused by an operator up to this day


Candidates = dict[str, list[tuple[_Row, str, int]]]  # per DSO: (row, interruption, limit)

# The pending relay kinds of a meter travel as a bit mask (one aggregate per row, SQL that
# SQLite and PostgreSQL both run): bit → kind, and every mask → its set of kinds.
_RELAY_BITS = {kind.value: 1 << i for i, kind in enumerate(_RELAY_KINDS)}
_PENDING_SETS = [
    frozenset(k for k, bit in _RELAY_BITS.items() if mask & bit)
    for mask in range(1 << len(_RELAY_BITS))
]


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _read(ids: list[int], with_last_delta: bool, day: date | None) -> tuple[str, list[Any]]:
    """The run's read of these accounts (sorted): the active ones with what the rules need —
    balance, supply, meter in place, the meter's pending relay orders, the operator's pause,
    the balance's latest posting (for a balance change) — and, with `day` (a run after a
    close), only those whose display for that day is not issued yet (every account a close
    run decides gets one, in the same transaction as its other decisions). SQL both
    databases run."""
    params: list[Any] = [ids[0], ids[-1]]
    # The id range too: a chunk of a sorted run is a range scan of the accounts, not a scan of
    # all of them filtered by the list.
    if connection.vendor == "postgresql":
        ids_sql = "a.id BETWEEN %s AND %s AND a.id = ANY(%s::bigint[])"
        params.append(bulk.pg_array(ids)[0])
    else:
        ids_sql = "a.id BETWEEN %s AND %s AND a.id IN (SELECT value FROM json_each(%s))"
        params.append(json.dumps(ids))
    params.append(AccountState.ACTIVE.value)
    meter = meter_sql("a")
    last_delta = (
        f"(SELECT e.amount_cents FROM {_table(Entry)} e "
        "WHERE e.account_id = a.balance_account_id ORDER BY e.id DESC LIMIT 1)"
        if with_last_delta
        else "NULL"
    )
    undecided = ""
    if day is not None:
        # The display order's idempotency key (`_order_key`), probed in its unique index.
        prefix, suffix = _order_key_parts(day, OrderKind.DISPLAY_BALANCE.value)
        undecided = (
            f"AND NOT EXISTS (SELECT 1 FROM {_table(Order)} k WHERE k.key = "
            "CAST(%s AS TEXT) || CAST(a.id AS TEXT) || CAST(%s AS TEXT))"
        )
        params += [prefix, suffix]
    sql = f"""
        SELECT a.id, a.supply, a.supply_point_id, sp.energy, sp.protected, sp.dso_id,
               l.balance_cents, {_instant("l.updated_at")}, {_instant("a.exhausted_since")},
               {meter}, {last_delta}, {pending_sql(meter)}, a.interruptions_paused_until
        FROM {_table(PrepaymentAccount)} a
        JOIN {_table(SupplyPoint)} sp ON sp.id = a.supply_point_id
        JOIN {_table(LedgerAccount)} l ON l.id = a.balance_account_id
        WHERE {ids_sql} AND a.state = %s {undecided}
    """
    return sql, params


def meter_sql(account: str) -> str:
    """SQL: the id of the meter in place at the account (alias `account`)'s supply point."""
    return (
        f"(SELECT m.id FROM {_table(Meter)} m WHERE m.supply_point_id = {account}.supply_point_id "
        "AND m.removed_at IS NULL ORDER BY m.id DESC LIMIT 1)"
    )


def pending_sql(meter: str) -> str:
    """SQL: the relay kinds pending for the meter `meter`, as a bit mask (`pending_kinds`)."""
    bits = " ".join(f"WHEN '{kind}' THEN {bit}" for kind, bit in _RELAY_BITS.items())
    pending = ", ".join(f"'{s.value}'" for s in PENDING_STATUSES)
    relay = ", ".join(f"'{k}'" for k in _RELAY_BITS)
    return (
        f"(SELECT SUM(DISTINCT CASE o.kind {bits} END) FROM {_table(Order)} o "
        f"WHERE o.meter_id = {meter} AND o.status IN ({pending}) AND o.kind IN ({relay}))"
    )


def pending_kinds(mask: int | None) -> frozenset[str]:
    return _PENDING_SETS[mask or 0]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the caller of a balance change read of its account along with its lock (the
    supply, the meter's pending relay orders, the emergency credit limit): enough for the
    rules to tell that credit control has nothing to decide (`nothing_to_decide`)."""

    supply: str
    pending: frozenset[str]
    limit_cents: int


def _display_mode(trigger: str) -> str | None:
    return CLOSE if trigger == CLOSE else (None if trigger in NO_DISPLAY_REASONS else "change")


def nothing_to_decide(facts: Facts, reason: str, balance_cents: int, delta_cents: int) -> bool:
    """True when a balance change (`delta_cents`, now `balance_cents`) leaves credit control
    nothing to do for this account, whatever the window, the guard or the operator's pause: the
    account is not interrupted nor ordered to be (`rules.interruption_state`), not exhausted
    (so `rules.credit_verdict` has no verdict) and the meter need not show the balance
    (`rules.display_rule`). A top-up on an account in credit, nearly always."""
    interrupted = rules.interruption_state(facts.supply, facts.pending) is not None
    return (
        not interrupted
        and not rules.is_exhausted(balance_cents, facts.limit_cents)
        and rules.display_rule(_display_mode(reason), balance_cents, interrupted, delta_cents)
        is None
    )


def _rows(ids: list[int], with_last_delta: bool, day: date | None = None) -> list[_Row]:
    """One chunk of the run's read (`_read`, ids sorted), in ONE query, in account order."""
    if not ids:
        return []
    sql, params = _read(ids, with_last_delta, day)
    with connection.cursor() as cur:
        big = connection.vendor == "postgresql" and len(ids) > _CHUNK // 10
        if big:
            # Index probes from the chunk's accounts: a hash join would scan and hash every
            # balance and supply point of the platform for each chunk (0012).
            cur.execute(
                "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"
            )
            planner = cur.fetchone()
            cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        cur.execute(sql + " ORDER BY a.id", params)
        fetched = cur.fetchall()
        if big:  # the caller's transaction goes on with the planner as the caller had it
            cur.execute(
                "SELECT set_config('enable_hashjoin', %s, true), "
                "set_config('enable_mergejoin', %s, true)",
                planner,
            )
        return _to_rows(fetched)


def _row_chunks(ids: list[int], with_last_delta: bool, day: date | None) -> Iterator[list[_Row]]:
    """The run's read, a query per chunk of consecutive ids. Each is planned when it runs,
    with the tables as the run's own writes have grown them: one statement read through a
    server-side cursor was planned once, on tables still empty of the day's orders in a fresh
    database, and scanned them row by row as the run filled them (0012)."""
    ids = sorted(ids)
    for start in range(0, len(ids), _CHUNK):
        yield _rows(ids[start : start + _CHUNK], with_last_delta, day)


def _to_rows(fetched: list[tuple]) -> list[_Row]:
    sets = _PENDING_SETS
    instants: dict[Any, datetime | None] = {None: None}  # a close gives most the same
    if connection.vendor == "postgresql":

        def instant(micros: int | None) -> datetime | None:
            if micros not in instants:
                instants[micros] = _EPOCH + timedelta(microseconds=micros)  # type: ignore[arg-type]
            return instants[micros]

        return [
            _Row(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                instant(r[7]),
                instant(r[8]),
                r[9],
                r[10],
                sets[r[11] or 0],
                r[12],
            )
            for r in fetched
        ]

    def aware(value: datetime | str | None) -> datetime | None:
        # SQLite hands naive UTC instants (or their text where it cannot tell the type).
        if value not in instants:
            instants[value] = _aware(value)
        return instants[value]

    return [
        _Row(
            r[0],
            r[1],
            r[2],
            r[3],
            bool(r[4]),
            r[5],
            r[6],
            aware(r[7]),
            aware(r[8]),
            r[9],
            r[10],
            sets[r[11] or 0],
            _day(r[12]),
        )
        for r in fetched
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _day(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _instant(column: str) -> str:
    """An instant column as the run reads it: on PostgreSQL whole microseconds since the
    epoch (an integer: exact, and cheap to load, where a timestamptz goes through Django's
    loader in Python row by row)."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
    return column


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _held_accounts() -> set[int]:
    """Accounts of a held run an operator has not answered yet (none, nearly always: one
    cheap query per run)."""
    if not HeldRun.objects.filter(status=HeldRunStatus.HELD).exists():
        return set()
    return set(
        CreditDecision.objects.filter(
            decision=Decision.HELD, held_run__status=HeldRunStatus.HELD
        ).values_list("account_id", flat=True)
    )


def _meter(row: _Row) -> int:
    assert row.meter_id is not None  # rows without a meter never reach an order
    return row.meter_id


def display_params(
    balance: int,
    limit: int,
    updated_at: datetime | None,
    stamps: dict[datetime | None, str] | None = None,
) -> dict[str, str]:
    """The 94.32.2 pages: 1 = last balance update (local time), 2 = balance €, 3 = remaining
    emergency credit €. `stamps`: a run's cache of page 1 (a close updates every balance at
    the same instant)."""
    stamp = stamps.get(updated_at) if stamps is not None else None
    if stamp is None:
        stamp = clock.local(updated_at or clock.now()).isoformat(timespec="seconds")
        if stamps is not None and updated_at is not None:
            stamps[updated_at] = stamp
    return {
        "1": stamp,
        "2": format_eur(balance),
        "3": format_eur(rules.emergency_remaining_cents(balance, limit)),
    }


# Inside the caller's transaction (a top-up's) without a savepoint round trip: an error here
# fails the caller's transaction as a whole anyway.
@transaction.atomic(savepoint=False)
def evaluate(
    account_ids: Iterable[int], reason: str, at: datetime | None = None, *, day: date | None = None
) -> RunResult:
    """Decide for these accounts, issue the orders and record every decision.

    `reason` is the trigger: "close" (balance display for each), "window", or a balance change
    ("topup", "adjustment", …: display when the account is or was in emergency credit, or is
    interrupted). Windows are checked at the issuing instant `clock.now()`, never at `at` (when
    the trigger fell due), so a late catch-up never interrupts outside a window.

    `day`: the closed day a "close" run answers. Its decisions and orders carry it as their
    idempotency key (one of each per account-day), and accounts already decided for it (their
    display order for the day issued) are left out, so running it again after a crash decides
    only what is missing.
    """
    return _run(list(dict.fromkeys(account_ids)), reason, at, day=day)


# The decision row as written (tuples, COPY on PostgreSQL): CreditDecision's columns.
_DECISION_COLUMNS = [
    "account_id",
    "at",
    "decision",
    "trigger",
    "rule",
    "action",
    "balance_cents",
    "limit_cents",
    "in_window",
    "next_window_at",
    "order_id",
    "held_run_id",
    "day",
]
_ORDER_AT = _DECISION_COLUMNS.index("order_id")
_ACTION_AT = _DECISION_COLUMNS.index("action")
# Plain strings, not the enum members: what the rows carry to the database as they are.
D_INTERRUPT, D_FRIENDLY, D_NO_INTERRUPTION = "interrupt", "friendly_credit", "no_interruption"
D_HELD, D_SKIPPED, D_RECONNECT = "held", "release_skipped", "reconnect"
assert {D_INTERRUPT, D_FRIENDLY, D_NO_INTERRUPTION, D_HELD, D_SKIPPED, D_RECONNECT} <= {
    d.value for d in Decision
}


def _run(
    ids: list[int],
    trigger: str,
    at: datetime | None,
    held_run: HeldRun | None = None,
    day: date | None = None,
) -> RunResult:
    """Per chunk of accounts: read them in one query (`_rows`), ask the pure rules
    (`rules.credit_verdict`, `rules.display_rule`, `rules.confirm_skip_reason`) per account,
    then write that chunk's orders, decisions and events in a few set-based statements (COPY
    on PostgreSQL). The interruptions come last, over the whole run (the mass-cut guard
    counts a run as a whole)."""
    now = clock.now()
    result = RunResult()
    if not ids:
        return result
    if connection.vendor == "postgresql" and len(ids) > _CHUNK // 10:
        # A big run's statements are index-driven or bulk: JIT compiling the per-row
        # subqueries of the read (estimated costly) took longer than running them.
        with connection.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
    dsos = {d.pk: d for d in Dso.objects.all()}
    limits = {
        (code, energy): d.emergency_credit_cents(energy)
        for code, d in dsos.items()
        for energy in ("electricity", "gas")
    }
    display_mode = _display_mode(trigger)
    candidates: Candidates = defaultdict(list)
    # The displays of interruption candidates go after their interruption (orders in the
    # order they were decided).
    deferred: list[_Display] = []
    window_open = {code: rules.in_allowed_window(now, d) for code, d in dsos.items()}
    next_window: dict[str, datetime | None] = {}  # per DSO, asked once per run
    today = clock.local_date(now)
    held = set() if held_run else _held_accounts()
    held_run_id = held_run.pk if held_run else None
    stamps: dict[datetime | None, str] = {}
    credit_verdict, display_rule = rules.credit_verdict, rules.display_rule
    interruption_state = rules.interruption_state

    def record(
        row: _Row,
        decision: str,
        rule: str,
        limit: int,
        in_window: bool,
        action: str = "",
        next_window_at: datetime | None = None,
        held_run_id: int | None = held_run_id,
    ) -> list:
        return [
            row.pk,
            now,
            decision,
            trigger,
            rule,
            action,
            row.balance,
            limit,
            in_window,
            next_window_at,
            None,
            held_run_id,
            day,
        ]

    for rows in _row_chunks(ids, display_mode == "change", day):
        result.evaluated += len(rows)
        decisions: list[list] = []
        events: list[tuple[str, int, str, dict]] = []
        reconnects: list[tuple[_Row, dict, list]] = []
        displays: list[_Display] = []
        for row in rows:
            limit = limits[(row.dso_id, row.energy)]
            in_window = window_open[row.dso_id]
            paused = row.paused_until is not None and row.paused_until >= today
            if held_run is not None:
                action, why = _confirm_one(
                    row, dsos[row.dso_id], limit, in_window, row.pending, today, paused=paused
                )
                if action is not None:
                    candidates[row.dso_id].append((row, action, limit))
                else:
                    decisions.append(record(row, D_SKIPPED, why, limit, in_window))
                    result.skipped.append(row.pk)
                continue
            if row.meter_id is None:
                continue  # no meter in place: nothing to order (operators see it in registry)
            candidate = False
            verdict = credit_verdict(
                balance_cents=row.balance,
                limit_cents=limit,
                supply=row.supply,
                pending_kinds=row.pending,
                held=row.pk in held,
                energy=row.energy,
                protected=row.protected,
                local_day=today,
                in_window=in_window,
                dso=dsos[row.dso_id],
                paused=paused,
            )
            if verdict is None:
                pass
            elif verdict.decision == D_RECONNECT:
                d = record(row, D_RECONNECT, verdict.rule, limit, in_window, verdict.action)
                reconnects.append((row, {}, d))
            elif verdict.decision == D_NO_INTERRUPTION:
                decisions.append(record(row, D_NO_INTERRUPTION, verdict.rule, limit, in_window))
                result.no_interruption.append(row.pk)
            else:  # interrupt (a candidate) or friendly credit: the customer is told first
                opens: datetime | None
                if in_window:
                    opens = now
                elif row.dso_id in next_window:
                    opens = next_window[row.dso_id]
                else:
                    opens = next_window[row.dso_id] = rules.next_window_start(now, dsos[row.dso_id])
                stamp = int((row.exhausted_since or now).timestamp())
                events.append(
                    (
                        "interruption_coming",
                        row.supply_point_id,
                        f"interruption_coming:{row.pk}:{stamp}",
                        {
                            "action": verdict.action,
                            "at": opens.isoformat() if opens else None,
                            "balance_cents": row.balance,
                        },
                    )
                )
                if verdict.decision == D_INTERRUPT:
                    candidates[row.dso_id].append((row, verdict.action, limit))
                    candidate = True
                else:
                    decisions.append(
                        record(row, D_FRIENDLY, verdict.rule, limit, False, verdict.action, opens)
                    )
                    result.friendly_credit.append(row.pk)
            interrupted = interruption_state(row.supply, row.pending) is not None
            rule = display_rule(display_mode, row.balance, interrupted, row.last_delta)
            if rule is not None:  # the balance as decided on, not as `_interrupt` reads it again
                shown = (_meter(row), row.pk, row.balance, row.updated_at, limit, rule)
                (deferred if candidate else displays).append(shown)
        # Reconnections first, in a call of their own: a handful leaves right after the commit.
        decisions += _issue(reconnects, "credit control", trigger, day)
        result.reconnected += [row.pk for row, _, _ in reconnects]
        _write(decisions, events, now)
        result.displayed += issue_displays(displays, trigger, day, stamps)

    if candidates:
        decisions = _interrupt(candidates, dsos, trigger, now, held_run, day, record, result)
        _write(decisions, [], now)
        result.displayed += issue_displays(deferred, trigger, day, stamps)
    return result


# A balance display to issue: meter, account, balance, its update instant, limit, rule.
_Display = tuple[int, int, int, datetime | None, int, str]


def issue_displays(
    group: list[_Display], trigger: str, day: date | None, stamps: dict[datetime | None, str]
) -> int:
    """§9's balance display of these accounts, a step of its own: an order each (its reason
    the display rule), keyed per account-day after a close. The order is the record: no
    decision row beside it (0012). Returns how many."""
    if not group:
        return 0
    kind = OrderKind.DISPLAY_BALANCE.value
    issue_orders(
        [
            (meter, kind, f"{rule} ({trigger})", display_params(balance, limit, at, stamps))
            for meter, _, balance, at, limit, rule in group
        ],
        keys=[_order_key(day, account, kind) for _, account, *_ in group] if day else None,
    )
    return len(group)


def _issue(
    group: list[tuple[_Row, dict, list]], reason: str, trigger: str, day: date | None
) -> list[list]:
    """Issue the orders of these decisions (one per meter) and return the decisions, each
    with its order."""
    if not group:
        return []
    ids = issue_orders(
        [(_meter(row), d[_ACTION_AT], f"{reason}: {trigger}", params) for row, params, d in group],
        keys=[_order_key(day, row.pk, d[_ACTION_AT]) for row, _, d in group] if day else None,
    )
    for (_, _, d), order_id in zip(group, ids, strict=True):
        d[_ORDER_AT] = order_id
    return [d for _, _, d in group]


def _write(decisions: list[list], events: list[tuple[str, int, str, dict]], now: datetime) -> None:
    if decisions:
        bulk.copy_rows(CreditDecision, _DECISION_COLUMNS, decisions)
    if events:
        publish_many(events, at=now)


def _confirm_one(
    row: _Row,
    dso: Dso,
    limit: int,
    in_window: bool,
    pending: Collection[str],
    today: date,
    paused: bool = False,
) -> tuple[str | None, str]:
    """Re-check one held account when an operator confirms its run: (the interruption to
    issue, "") or (None, why it is skipped)."""
    action = rules.interruption_action(row.energy, row.protected, today, dso)
    why = rules.confirm_skip_reason(
        has_meter=row.meter_id is not None,
        balance_cents=row.balance,
        limit_cents=limit,
        interrupted=rules.interruption_state(row.supply, pending) is not None,
        action=action,
        in_window=in_window,
        paused=paused,
    )
    return (None, why) if why or action is None else (action, "")


def _order_key_parts(day: date, kind: str) -> tuple[str, str]:
    """An order key of a run after a close is prefix + account id + suffix."""
    return f"close:{day}:", f":{kind}"


def _order_key(day: date, account_id: int, kind: str) -> str:
    prefix, suffix = _order_key_parts(day, kind)
    return f"{prefix}{account_id}{suffix}"


def _interrupt(
    candidates: Candidates,
    dsos: dict[str, Dso],
    trigger: str,
    now: datetime,
    held_run: HeldRun | None,
    day: date | None,
    record,
    result: RunResult,
) -> list[list]:
    """Issue the interruptions of this run — or hold them per DSO over the mass-cut guard.
    Returns the decisions.

    The candidates' rows are locked and their balances read again first, so a top-up that
    committed meanwhile is seen, and one arriving later waits for this transaction and then
    reconnects: no interruption order leaves for a balance above −limit.
    """
    all_ids = [row.pk for rows in candidates.values() for row, _, _ in rows]
    fresh: dict[int, int] = {}
    for i in range(0, len(all_ids), _CHUNK):
        chunk = all_ids[i : i + _CHUNK]
        # Lock first, then read in a new statement (a fresh snapshot once the lock is ours).
        list(
            PrepaymentAccount.objects.select_for_update().filter(pk__any_of=chunk).values_list("pk")
        )
        fresh.update(
            PrepaymentAccount.objects.filter(pk__any_of=chunk).values_list(
                "pk", "balance_account__balance_cents"
            )
        )
    active = {}
    if held_run is None:
        active = dict(
            PrepaymentAccount.objects.filter(
                state=AccountState.ACTIVE, supply_point__dso_id__in=list(candidates)
            )
            .values_list("supply_point__dso_id")
            .annotate(n=Count("pk"))
        )
    decisions: list[list] = []
    issued: list[tuple[_Row, dict, list]] = []
    for dso_code, rows in candidates.items():
        dso = dsos[dso_code]
        still = []
        for row, action, limit in rows:
            row.balance = fresh.get(row.pk, row.balance)
            if rules.is_exhausted(row.balance, limit):
                still.append((row, action, limit))
        if held_run is None and rules.mass_cut_exceeded(len(still), active.get(dso_code, 0), dso):
            run = HeldRun.objects.create(
                dso=dso,
                created_at=now,
                trigger=trigger,
                count=len(still),
                active_accounts=active.get(dso_code, 0),
            )
            rule = (
                f"§7 mass-cut guard: {len(still)} interruptions of "
                f"{active.get(dso_code, 0)} active accounts, held for an operator"
            )
            for row, action, limit in still:
                decisions.append(record(row, D_HELD, rule, limit, True, action, held_run_id=run.pk))
            result.held_runs.append(run.pk)
            continue
        for row, action, limit in still:
            params = {"amps": dso.limiter_amps} if action == OrderKind.LIMIT_POWER else {}
            d = record(row, D_INTERRUPT, rules.interrupt_rule(action), limit, True, action)
            issued.append((row, params, d))
            result.interrupted.append(row.pk)
    # One set-based call for the run's interruptions (one order per meter). The orders pair
    # with their own decisions, never with the run's earlier ones: when every candidate was
    # topped up meanwhile, nothing is issued and nothing is paired.
    return decisions + _issue(issued, "credit exhausted", trigger, day)


# --- The mass-cut guard: the operator's answer -------------------------------------------


@transaction.atomic
def release_held_run(run_id: int, user=None) -> RunResult:
    """Confirm a held run: re-check each account (still exhausted, not interrupted, still in an
    allowed window) and issue the interruptions that still hold; record the others as skipped."""
    run = HeldRun.objects.select_for_update().select_related("dso").get(pk=run_id)
    if run.status != HeldRunStatus.HELD:
        raise ValueError(
            gettext("Ce passage n'est plus en attente (%(status)s) : rien n'a été envoyé.")
            % {"status": run.status}
        )
    now = clock.now()
    if not rules.in_allowed_window(now, run.dso):
        opens = rules.next_window_start(now, run.dso)
        when = clock.local(opens).strftime("%d/%m/%Y %H:%M") if opens else "—"
        raise NotInWindow(
            gettext(
                "Les interruptions ne peuvent être envoyées que dans une plage autorisée : "
                "confirmez à nouveau à partir du %(when)s. Rien n'a été envoyé."
            )
            % {"when": when}
        )
    ids = list(
        CreditDecision.objects.filter(held_run=run, decision=Decision.HELD).values_list(
            "account_id", flat=True
        )
    )
    result = _run(ids, CONFIRM, now, held_run=run)
    run.status = HeldRunStatus.RELEASED
    run.decided_at, run.decided_by = now, user
    run.released_count, run.skipped_count = len(result.interrupted), len(result.skipped)
    run.save(
        update_fields=["status", "decided_at", "decided_by", "released_count", "skipped_count"]
    )
    return result


@transaction.atomic
def reject_held_run(run_id: int, user=None) -> int:
    """Reject a held run: none of its interruptions is sent. The accounts are checked again
    at the next window start (and held again if the guard still trips)."""
    run = HeldRun.objects.select_for_update().get(pk=run_id)
    if run.status != HeldRunStatus.HELD:
        raise ValueError(
            gettext("Ce passage n'est plus en attente (%(status)s) : rien n'a été changé.")
            % {"status": run.status}
        )
    now = clock.now()
    held = list(CreditDecision.objects.filter(held_run=run, decision=Decision.HELD))
    CreditDecision.objects.bulk_create(
        [
            CreditDecision(
                account_id=d.account_id,
                at=now,
                decision=Decision.REJECTED,
                trigger=CONFIRM,
                rule="§7 mass-cut guard: rejected by an operator",
                action=d.action,
                balance_cents=d.balance_cents,
                limit_cents=d.limit_cents,
                in_window=False,
                held_run=run,
            )
            for d in held
        ]
    )
    run.status = HeldRunStatus.REJECTED
    run.decided_at, run.decided_by = now, user
    run.save(update_fields=["status", "decided_at", "decided_by"])
    return len(held)


# --- Hooks and the window job --------------------------------------------------------------


DECIDE_CLOSED_DAY = "credit.close"


def decide_closed_day(payloads: list[dict]) -> None:
    """The work the close leaves for each closed chunk ({"day", "accounts"}): one run per day
    over every account closed that day (the mass-cut guard counts a run as a whole)."""
    by_day: dict[str, list[int]] = defaultdict(list)
    for p in payloads:
        by_day[p["day"]] += p["accounts"]
    for day, ids in sorted(by_day.items()):
        evaluate(ids, CLOSE, day=date.fromisoformat(day))
        faults.point("credit.after_decide")


def on_balance_changed(
    sender,
    account_ids,
    reason,
    facts: dict[int, Facts] | None = None,
    moved: dict[int, tuple[int, int]] | None = None,
    **kwargs,
) -> None:
    """`facts` and `moved` (account → (balance, delta)): what the sender read with the lock
    and posted; an account they show has nothing to decide is not read again."""
    if reason in ("close", "charge"):
        return  # the close leaves "credit.close" work for the same accounts
    if facts and moved:
        account_ids = [
            a
            for a in account_ids
            if a not in facts or not nothing_to_decide(facts[a], reason, *moved[a])
        ]
        if not account_ids:
            return
    evaluate(account_ids, reason)


def exhausted_accounts(dso: Dso) -> list[int]:
    """Active accounts of a DSO whose balance is at or below −limit (set-based)."""
    return list(
        PrepaymentAccount.objects.filter(state=AccountState.ACTIVE, supply_point__dso=dso)
        .filter(
            Q(
                supply_point__energy="electricity",
                balance_account__balance_cents__lte=-dso.emergency_credit_electricity_cents,
            )
            | Q(
                supply_point__energy="gas",
                balance_account__balance_cents__lte=-dso.emergency_credit_gas_cents,
            )
        )
        .values_list("pk", flat=True)
    )


def window_starts_due(start: datetime, end: datetime) -> list[datetime]:
    """Every DSO's window openings in (start, end]."""
    found: set[datetime] = set()
    for dso in Dso.objects.all():
        found.update(rules.window_starts_between(start, end, dso))
    return sorted(found)


def run_window_start(at: datetime) -> RunResult:
    """At a window opening: evaluate the exhausted accounts of the DSOs opening at `at`."""
    total = RunResult()
    for dso in Dso.objects.all():
        if rules.window_start_on(clock.local_date(at), dso) != at:
            continue
        res = evaluate(exhausted_accounts(dso), WINDOW, at)
        total.evaluated += res.evaluated
        total.interrupted += res.interrupted
        total.friendly_credit += res.friendly_credit
        total.no_interruption += res.no_interruption
        total.held_runs += res.held_runs
    return total


WINDOW_JOB = schedule.Job("credit_control.window_start", window_starts_due, run_window_start)


def connect() -> None:
    """Called from PrepaymentConfig.ready()."""
    from solde.prepayment.signals import balance_changed

    work.handler(DECIDE_CLOSED_DAY)(decide_closed_day)
    balance_changed.connect(on_balance_changed, dispatch_uid="credit_control.balance_changed")
    schedule.register(WINDOW_JOB)
