"""Credit control (RULES.md §7 and the balance display of §9).

After each daily close (the "credit.close" work each closed chunk leaves, see solde.work), each
balance change (top-up, adjustment) and at the start of each allowed
window, `evaluate` reads the accounts whose state may change in one set-based pass and decides,
per account: nothing, an interruption (limiter or disconnect, only when exhausted and inside an
allowed window), friendly credit (exhausted outside a window: wait for the next window), a
reconnection (an interrupted account back at ≥ 0, at any hour) or a balance display. Orders are
written in the caller's transaction (outbox); every decision is recorded with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import TypeVar

from django.db import connection, transaction
from django.db.models import Count, JSONField, Model, OuterRef, Q, Subquery
from django.utils.translation import gettext
from psycopg.types.json import Jsonb

from solde import bulk, clock, faults, schedule, work  # noqa: F401 — bulk: the `any_of` lookup
from solde.ledger.models import Entry
from solde.money import format_eur
from solde.notifications.events import publish_many
from solde.orders.models import PENDING_STATUSES, Order, OrderKind
from solde.orders.services import request_orders
from solde.prepayment import rules
from solde.prepayment.models import (
    AccountState,
    CreditDecision,
    Decision,
    HeldRun,
    HeldRunStatus,
    PrepaymentAccount,
)
from solde.registry.models import Dso, Meter

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


@dataclass
class _Row:
    """What one pass reads of an account."""

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
    last_delta: int | None


Candidates = dict[str, list[tuple[_Row, str, int]]]  # per DSO: (row, interruption, limit)


def _rows(ids: list[int], with_last_delta: bool) -> list[_Row]:
    meter = (
        Meter.objects.filter(supply_point_id=OuterRef("supply_point_id"), removed_at__isnull=True)
        .order_by("-pk")
        .values("pk")[:1]
    )
    qs = PrepaymentAccount.objects.filter(pk__in=ids, state=AccountState.ACTIVE).annotate(
        meter_id=Subquery(meter)
    )
    fields = [
        "pk",
        "supply",
        "supply_point_id",
        "supply_point__energy",
        "supply_point__protected",
        "supply_point__dso_id",
        "balance_account__balance_cents",
        "balance_account__updated_at",
        "exhausted_since",
        "meter_id",
    ]
    if with_last_delta:
        # The amount of the latest posting on the balance tells the balance before it.
        last = Entry.objects.filter(account_id=OuterRef("balance_account_id")).order_by("-pk")
        qs = qs.annotate(last_delta=Subquery(last.values("amount_cents")[:1]))
        fields.append("last_delta")
    out = []
    for values in qs.values_list(*fields):
        out.append(_Row(*values, *(() if with_last_delta else (None,))))
    return out


def _pending_relay(meter_ids: list[int]) -> dict[int, set[str]]:
    pending: dict[int, set[str]] = defaultdict(set)
    rows = Order.objects.filter(
        meter_id__in=meter_ids, status__in=PENDING_STATUSES, kind__in=_RELAY_KINDS
    ).values_list("meter_id", "kind")
    for meter_id, kind in rows:
        pending[meter_id].add(kind)
    return pending


def _paused_accounts(ids: list[int], today: date) -> set[int]:
    """Accounts an operator paused interruptions for (medical equipment, a CPAS file in
    progress), up to and including `interruptions_paused_until`."""
    if not ids:
        return set()
    return set(
        PrepaymentAccount.objects.filter(
            pk__in=ids, interruptions_paused_until__gte=today
        ).values_list("pk", flat=True)
    )


def _held_accounts(ids: list[int]) -> set[int]:
    if not HeldRun.objects.filter(status=HeldRunStatus.HELD).exists():
        return set()
    return set(
        CreditDecision.objects.filter(
            account_id__in=ids, decision=Decision.HELD, held_run__status=HeldRunStatus.HELD
        ).values_list("account_id", flat=True)
    )


def _meter(row: _Row) -> int:
    assert row.meter_id is not None  # rows without a meter never reach an order
    return row.meter_id


def display_params(balance: int, limit: int, updated_at: datetime | None) -> dict[str, str]:
    """The 94.32.2 pages: 1 = last balance update (local time), 2 = balance €, 3 = remaining
    emergency credit €."""
    stamp = clock.local(updated_at or clock.now()).isoformat(timespec="seconds")
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
    idempotency key (one of each per account-day), and accounts already decided for it are
    left out, so running it again after a crash decides only what is missing.
    """
    ids = list(dict.fromkeys(account_ids))
    if day is not None:
        ids = _not_decided(ids, day)
    return _run(ids, reason, at, day=day)


def _not_decided(ids: list[int], day: date) -> list[int]:
    decided: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        decided.update(
            CreditDecision.objects.filter(
                day=day, account_id__any_of=ids[start : start + _CHUNK]
            ).values_list("account_id", flat=True)
        )
    return [pk for pk in ids if pk not in decided] if decided else ids


def _run(
    ids: list[int],
    trigger: str,
    at: datetime | None,
    held_run: HeldRun | None = None,
    day: date | None = None,
) -> RunResult:
    """Read the accounts set-based, ask the rules (`rules.credit_verdict`,
    `rules.display_rule`, `rules.confirm_skip_reason`) per account, then write the decisions,
    orders and events in a few statements."""
    now = clock.now()
    result = RunResult()
    if not ids:
        return result
    dsos = {d.pk: d for d in Dso.objects.all()}
    display_mode = (
        CLOSE if trigger == CLOSE else (None if trigger in NO_DISPLAY_REASONS else "change")
    )
    decisions: list[CreditDecision] = []
    events: list[tuple[str, int, str, dict]] = []
    reconnects: list[tuple[_Row, dict, CreditDecision]] = []
    displays: list[tuple[_Row, dict, CreditDecision]] = []
    candidates: Candidates = defaultdict(list)
    window_open = {code: rules.in_allowed_window(now, d) for code, d in dsos.items()}
    today = clock.local_date(now)

    def record(row: _Row, decision: str, rule: str, limit: int, in_window: bool, **extra):
        return CreditDecision(
            account_id=row.pk,
            at=now,
            decision=decision,
            trigger=trigger,
            rule=rule,
            balance_cents=row.balance,
            limit_cents=limit,
            in_window=in_window,
            day=day,
            **extra,
        )

    for start in range(0, len(ids), _CHUNK):
        rows = _rows(ids[start : start + _CHUNK], with_last_delta=display_mode == "change")
        result.evaluated += len(rows)
        pending = _pending_relay([r.meter_id for r in rows if r.meter_id])
        held = set() if held_run else _held_accounts([r.pk for r in rows])
        paused = _paused_accounts([r.pk for r in rows if r.balance <= 0], today)
        for row in rows:
            dso = dsos[row.dso_id]
            limit = dso.emergency_credit_cents(row.energy)
            in_window = window_open[row.dso_id]
            mine = pending.get(row.meter_id, set()) if row.meter_id else set()
            if held_run is not None:
                action, why = _confirm_one(
                    row, dso, limit, in_window, mine, today, paused=row.pk in paused
                )
                if action is not None:
                    candidates[row.dso_id].append((row, action, limit))
                else:
                    decisions.append(
                        record(
                            row, Decision.RELEASE_SKIPPED, why, limit, in_window, held_run=held_run
                        )
                    )
                    result.skipped.append(row.pk)
                continue
            if row.meter_id is None:
                continue  # no meter in place: nothing to order (operators see it in registry)
            verdict = rules.credit_verdict(
                balance_cents=row.balance,
                limit_cents=limit,
                supply=row.supply,
                pending_kinds=mine,
                held=row.pk in held,
                energy=row.energy,
                protected=row.protected,
                local_day=today,
                in_window=in_window,
                dso=dso,
                paused=row.pk in paused,
            )
            if verdict is None:
                pass
            elif verdict.decision == Decision.RECONNECT:
                d = record(
                    row, Decision.RECONNECT, verdict.rule, limit, in_window, action=verdict.action
                )
                reconnects.append((row, {}, d))
            elif verdict.decision == Decision.NO_INTERRUPTION:
                decisions.append(
                    record(row, Decision.NO_INTERRUPTION, verdict.rule, limit, in_window)
                )
                result.no_interruption.append(row.pk)
            else:  # interrupt (a candidate) or friendly credit: the customer is told first
                opens = now if in_window else rules.next_window_start(now, dso)
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
                if verdict.decision == Decision.INTERRUPT:
                    candidates[row.dso_id].append((row, verdict.action, limit))
                else:
                    decisions.append(
                        record(
                            row,
                            Decision.FRIENDLY_CREDIT,
                            verdict.rule,
                            limit,
                            False,
                            action=verdict.action,
                            next_window_at=opens,
                        )
                    )
                    result.friendly_credit.append(row.pk)
            interrupted = rules.interruption_state(row.supply, mine) is not None
            rule = rules.display_rule(display_mode, row.balance, interrupted, row.last_delta)
            if rule is not None:
                params = display_params(row.balance, limit, row.updated_at)
                d = record(
                    row,
                    Decision.DISPLAY,
                    rule,
                    limit,
                    in_window,
                    action=OrderKind.DISPLAY_BALANCE,
                )
                displays.append((row, params, d))

    if candidates:
        decisions += _interrupt(candidates, dsos, trigger, now, held_run, day, record, result)
    # Reconnections first, in a call of their own: a handful leaves right after the commit.
    for group, reason in ((reconnects, "credit control"), (displays, "balance display")):
        issued = request_orders(
            [(_meter(row), d.action, f"{reason}: {trigger}", params) for row, params, d in group],
            keys=[_order_key(day, row.pk, d.action) for row, _, d in group] if day else None,
        )
        for (_, _, d), order in zip(group, issued, strict=True):
            d.order = order
            decisions.append(d)
    result.reconnected = [row.pk for row, _, _ in reconnects]
    result.displayed = len(displays)
    _insert(decisions)
    publish_many(events, at=now)
    return result


def _confirm_one(
    row: _Row,
    dso: Dso,
    limit: int,
    in_window: bool,
    pending: set[str],
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


def _order_key(day: date | None, account_id: int, kind: str) -> str:
    return f"close:{day}:{account_id}:{kind}"


def _interrupt(
    candidates: Candidates,
    dsos: dict[str, Dso],
    trigger: str,
    now: datetime,
    held_run: HeldRun | None,
    day: date | None,
    record,
    result: RunResult,
) -> list[CreditDecision]:
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
        list(PrepaymentAccount.objects.select_for_update().filter(pk__in=chunk).values_list("pk"))
        fresh.update(
            PrepaymentAccount.objects.filter(pk__in=chunk).values_list(
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
    decisions: list[CreditDecision] = []
    issued: list[tuple[int, str, str, dict]] = []
    issued_decisions: list[CreditDecision] = []
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
                decisions.append(
                    record(row, Decision.HELD, rule, limit, True, action=action, held_run=run)
                )
            result.held_runs.append(run.pk)
            continue
        for row, action, limit in still:
            params = {"amps": dso.limiter_amps} if action == OrderKind.LIMIT_POWER else {}
            issued.append((_meter(row), action, f"credit exhausted: {trigger}", params))
            issued_decisions.append(
                record(
                    row,
                    Decision.INTERRUPT,
                    rules.interrupt_rule(action),
                    limit,
                    True,
                    action=action,
                    held_run=held_run,
                )
            )
            result.interrupted.append(row.pk)
    # One set-based call for the run's interruptions (one order per meter). The orders pair
    # with their own decisions, never with the run's earlier ones: when every candidate was
    # topped up meanwhile, nothing is issued and nothing is paired.
    keys = [_order_key(day, d.account_id, d.action) for d in issued_decisions] if day else None
    for d, order in zip(issued_decisions, request_orders(issued, keys=keys), strict=True):
        d.order = order
    return decisions + issued_decisions


M = TypeVar("M", bound=Model)


def _insert(objs: Sequence[M], batch_size: int = 5000) -> Sequence[M]:
    """Insert new model instances of one model and set their primary keys.

    On PostgreSQL the ids are drawn from the table's sequence in one statement and the rows go
    in with COPY (several times faster than INSERT for tens of thousands of rows); elsewhere
    bulk_create. Runs in the caller's transaction. Values go as they are (psycopg adapts
    them), JSON fields as JSON: no per-field conversions beyond that (no custom field types).
    """
    if not objs:
        return objs
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_create(objs, batch_size=batch_size)
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in [pk, *fields])
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, str(pk.column), len(objs)],
        )
        ids = [row[0] for row in cur.fetchall()]
        for obj, new_id in zip(objs, ids, strict=True):
            obj.pk = new_id
            obj._state.adding = False
            obj._state.db = connection.alias
        raw = cur.cursor  # the psycopg cursor under Django's wrapper
        table = connection.ops.quote_name(meta.db_table)
        attnames = [f.attname for f in fields]
        json_at = {i for i, f in enumerate(fields) if isinstance(f, JSONField)}
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                row = [obj.pk]
                for i, name in enumerate(attnames):
                    value = getattr(obj, name)
                    if i in json_at:
                        value = Jsonb(value)
                    elif isinstance(value, Enum):
                        value = value.value
                    row.append(value)
                copy.write_row(row)
    return objs


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


def on_balance_changed(sender, account_ids, reason, **kwargs) -> None:
    if reason in ("close", "charge"):
        return  # the close leaves "credit.close" work for the same accounts
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
