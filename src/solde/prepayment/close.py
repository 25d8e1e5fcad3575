"""The daily close (RULES.md §3–§6): charge each closed day's consumption, recover the advance.

Set-based per day over every due account, in chunks: each chunk is one transaction, so a crash
mid-run leaves whole days closed or not at all, and a rerun completes the rest. Every posting
carries an idempotency key (`charge:{account}:{day}`, `recovery:{account}:{day}`). Each chunk
also writes, in its transaction, the credit-control work for the accounts it closed
("credit.close", solde.work): after a crash that work is still there and is done by the rerun
or by a worker, once. The per-account arithmetic is `rules.close_account_day`.

A chunk is a tight batch (docs/decisions/0011): one statement reads and locks its accounts with
their meters and the daily indexes of the day before; one more finds the readings around the
segment ends still unknown (a start at midnight READ the day before is not looked up again);
Python applies the pure rules per account; the writes are COPYs (transfers into a staging table,
day charges, daily indexes) and set-based statements (ledger transactions, entries and balances
in one, the accounts' closed day in another). The energy-sales balances every chunk credits
are updated last, just before the commit, so parallel chunks hardly wait on each other.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min, Q, QuerySet

from solde import clock, faults, work
from solde.bulk import copy_rows, pg_array  # also registers the `any_of` lookup
from solde.ledger.models import AccountKind, LedgerAccount, TransactionKind
from solde.ledger.services import Transfer, account, apply_balance_deltas, post_transfers
from solde.notifications.events import publish_many
from solde.prepayment import rules
from solde.prepayment.models import (
    INTERRUPTED_SUPPLY,
    AccountState,
    CloseRun,
    DayCharge,
    PrepaymentAccount,
    WaitingReason,
)
from solde.prepayment.services import refresh_closed_credit_state
from solde.prepayment.signals import balance_changed
from solde.prepayment.tasks import CATCH_UP, drain_catch_up
from solde.readings.indexes import Probe, _as_utc, neighbours
from solde.readings.models import DailyIndex, Reading
from solde.registry.models import (
    CHARGED_REGISTERS,
    Dso,
    GasConversionFactor,
    Meter,
    SupplyPoint,
    Tariff,
)

log = logging.getLogger(__name__)

CHUNK = int(os.environ.get("SOLDE_CLOSE_CHUNK", "5000"))  # accounts per transaction
DEFAULT_GAS_FACTOR = Decimal("10.5")  # kWh/m³ when a DSO has no factor (RULES.md §4)
ONE_DAY = timedelta(days=1)
CREDIT_WORK = "credit.close"  # handled by credit_control.decide_closed_day
# A day's credit work waits this long for a worker (the close itself does it at once after
# the day's last chunk): a worker never decides on half a day while the close still runs.
SETTLE = timedelta(minutes=5)

Progress = Callable[[date, int, int], object]  # (day, accounts done that day, due that day)


class CloseError(ValueError):
    """A close that cannot be asked for (a day not over yet, an unknown EAN)."""


@dataclass
class CloseResult:
    day: date
    closed: int = 0  # account-days closed by this run (0 when everything was closed already)
    waiting_for_data: int = 0  # accounts whose next day still lacks a midnight index
    waiting_for_price: int = 0  # accounts whose next day has consumption and no price
    missing_prices: set[tuple[str, str, str, str]] = field(default_factory=set)
    credit_failed: int = 0  # credit-control work items that failed (retried; see the admin)


def close_day(
    day: date, ean: str | None = None, *, trigger: str = "command", progress: Progress | None = None
) -> CloseResult:
    """Close every unclosed day up to `day` for every active account (or one EAN), in date order.

    Idempotent: closing a closed day again changes nothing."""
    if day >= clock.today():
        raise CloseError(f"The day {day} is not over yet; only past days can be closed.")
    account_ids: list[int] | None = None
    if ean:
        acc = PrepaymentAccount.objects.filter(supply_point__ean=ean).first()
        if acc is None:
            raise CloseError(f"No prepayment account for EAN {ean}.")
        account_ids = [acc.pk]
    # First what a killed run left undone: the credit decisions of days it closed.
    leftover = work.drain([CREDIT_WORK], eager=True)
    run = CloseRun.objects.create(day=day, ean=ean or "", trigger=trigger, started_at=clock.now())
    result = _close_up_to(day, account_ids, progress, SETTLE)
    result.credit_failed += leftover.failed
    run.finished_at = clock.now()
    run.closed = result.closed
    run.waiting_for_data = result.waiting_for_data
    run.waiting_for_price = result.waiting_for_price
    with transaction.atomic():
        run.save(update_fields=["finished_at", "closed", "waiting_for_data", "waiting_for_price"])
        if account_ids is None:
            # Readings committed while this run went by (an account activated after it listed
            # the day's accounts, a midnight index after it read the account) had their
            # catch-up tried before the run finished, so only up to the day before: the run
            # ends with a catch-up of every account it left behind, as work that survives a crash.
            work.enqueue(CATCH_UP, f"{CATCH_UP}:after:{run.pk}", {"behind": True}, group=CATCH_UP)
    if account_ids is None:
        faults.point("close.after_finish")
        drain_catch_up()
    return result


def last_platform_closed_day() -> date | None:
    """The latest day a close for every account has finished (late data is charged up to it)."""
    return CloseRun.objects.filter(ean="", finished_at__isnull=False).aggregate(d=Max("day"))["d"]


def catch_up(supply_point_ids: Iterable[int] | None) -> CloseResult | None:
    """Charge the days up to the platform's last closed day for these supply points (late data),
    or for every account behind it (None)."""
    last = last_platform_closed_day()
    if last is None:
        return None
    behind = PrepaymentAccount.objects.filter(
        state=AccountState.ACTIVE, activation_day__lte=last
    ).exclude(last_closed_day__gte=last)
    if supply_point_ids is not None:
        behind = behind.filter(supply_point_id__any_of=list(supply_point_ids))
    ids = list(behind.values_list("pk", flat=True))
    if not ids:
        return None
    return _close_up_to(last, ids, None, timedelta(0))


def _due(base: QuerySet, day: date) -> QuerySet:
    return base.filter(
        Q(last_closed_day=day - ONE_DAY) | Q(last_closed_day__isnull=True, activation_day=day)
    )


def _close_up_to(
    day: date, account_ids: list[int] | None, progress: Progress | None, settle: timedelta
) -> CloseResult:
    result = CloseResult(day)
    base = PrepaymentAccount.objects.filter(
        state=AccountState.ACTIVE, activation_day__lte=day
    ).exclude(last_closed_day__gte=day)
    if account_ids is not None:
        base = base.filter(pk__any_of=account_ids)
    agg = base.aggregate(
        last=Min("last_closed_day"),
        first=Min("activation_day", filter=Q(last_closed_day__isnull=True)),
    )
    starts = [d for d in (agg["last"] and agg["last"] + ONE_DAY, agg["first"]) if d]
    if not starts:
        return result
    ctx = _Context.load()
    blocked: dict[int, str] = {}  # an account waiting on a day is not closed past it
    current = min(starts)
    while current <= day:
        due = [
            pk
            for pk in _due(base, current).order_by("pk").values_list("pk", flat=True)
            if pk not in blocked
        ]
        chunks = [due[start : start + CHUNK] for start in range(0, len(due), CHUNK)]
        done = 0
        closed_today: list[int] = []
        for size, (closed, waiting) in zip(
            map(len, chunks), _run_chunks(current, chunks, ctx, result, settle), strict=True
        ):
            blocked.update(waiting)
            closed_today += closed
            done += size
            if progress:
                progress(current, done, len(due))
        result.closed += len(closed_today)
        faults.point("close.after_day_commit")
        if closed_today:
            # The day's credit work now, as one run over every account closed (credit
            # control's mass-cut guard counts a run as a whole). A failure stays on the work
            # items (retried by the worker, shown in the admin); the close goes on.
            started = time.perf_counter()
            result.credit_failed += work.drain(groups=[_credit_group(current)], eager=True).failed
            log.debug("credit control for %s took %.2f s", current, time.perf_counter() - started)
        current += ONE_DAY
    result.waiting_for_data = sum(1 for r in blocked.values() if r == WaitingReason.NO_DATA)
    result.waiting_for_price = sum(1 for r in blocked.values() if r == WaitingReason.NO_PRICE)
    if result.missing_prices:
        log.warning(
            "Daily close up to %s: %d account(s) wait for a price; missing: %s",
            day,
            result.waiting_for_price,
            ", ".join(" ".join(k) for k in sorted(result.missing_prices)),
        )
    return result


def _workers() -> int:
    """Chunks closed at once. PostgreSQL only, and only when no caller's transaction is open
    (each worker commits on its own connection): one worker computes while another's rows are
    written. SQLite has one writer; more workers would only queue."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, int(os.environ.get("SOLDE_CLOSE_WORKERS", "2")))


def _credit_group(day: date) -> str:
    return f"{CREDIT_WORK}:{day}"


def _timed(
    day: date, chunk: list[int], ctx: _Context, result: CloseResult, settle: timedelta
) -> tuple[list[int], dict[int, str]]:
    started = time.perf_counter()
    out = _close_chunk(day, chunk, ctx, result, settle)
    log.debug("closed %s for %d accounts in %.2f s", day, len(chunk), time.perf_counter() - started)
    return out


def _run_chunks(
    day: date, chunks: list[list[int]], ctx: _Context, result: CloseResult, settle: timedelta
) -> Iterator[tuple[list[int], dict[int, str]]]:
    workers = min(_workers(), len(chunks))
    if workers <= 1:
        for chunk in chunks:
            yield _timed(day, chunk, ctx, result, settle)
        return

    def in_worker(chunk: list[int]) -> tuple[list[int], dict[int, str]]:
        try:
            return _timed(day, chunk, ctx, result, settle)
        finally:
            connection.close()  # the worker thread's own connection

    with ThreadPoolExecutor(workers, thread_name_prefix="close") as pool:
        yield from pool.map(in_worker, chunks)


@dataclass
class _Context:
    """What every chunk of a run needs: prices, gas factors, energy-sales accounts."""

    prices: dict[tuple[str, str, str], list[tuple[str, date, Decimal]]]
    factors: dict[str, list[tuple[date, Decimal]]]
    recovery_per_day: dict[str, int]
    sales: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls) -> _Context:
        prices: dict[tuple[str, str, str], list[tuple[str, date, Decimal]]] = defaultdict(list)
        for dso, energy, category, reg, valid_from, price in Tariff.objects.values_list(
            "dso_id", "energy", "category", "register", "valid_from", "price_eur_per_kwh"
        ):
            prices[(dso, energy, category)].append((reg, valid_from, price))
        factors: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
        for dso, valid_from, factor in GasConversionFactor.objects.values_list(
            "dso_id", "valid_from", "kwh_per_m3"
        ):
            factors[dso].append((valid_from, factor))
        recovery = dict(Dso.objects.values_list("code", "advance_recovery_cents_per_day"))
        ctx = cls(prices, factors, recovery)
        for dso in recovery:  # made up front: chunks may run in parallel workers
            for energy in CHARGED_REGISTERS:
                ctx.sales_account(dso, energy)
        return ctx

    def sales_account(self, dso: str, energy: str) -> int:
        key = (dso, energy)
        if key not in self.sales:
            self.sales[key] = account(f"energy_sales:{dso}:{energy}", AccountKind.ENERGY_SALES).pk
        return self.sales[key]


@dataclass
class _Account:
    pk: int
    supply_point_id: int
    dso_id: str
    energy: str
    tariff_category: str
    balance_account_id: int
    advance_account_id: int
    advance_cents: int
    activated_at: datetime | None
    activation_day: date | None
    supply: str
    balance_cents: int  # the customer balance before the close (the account is locked)
    credit: tuple  # credit state, low credit, threshold, days, emergency / exhausted since


@dataclass
class _Segment:
    """One meter's share of an account's day: [start, end], with boundary flags."""

    meter_id: int
    registers: Sequence[str]
    start: datetime
    end: datetime
    starts_at_boundary: bool
    ends_at_boundary: bool
    probes: list[tuple[int, int]] = field(default_factory=list)  # (start, end) per register


def _segments(
    acc: _Account, meters: list[tuple], day_start: datetime, day_end: datetime
) -> list[_Segment]:
    energy = acc.energy
    out = []
    for meter_id, registers, installed_at, removed_at, *_ in meters:
        start = max(t for t in (day_start, installed_at, acc.activated_at) if t is not None)
        end = min(t for t in (day_end, removed_at) if t is not None)
        if start >= end:
            continue
        out.append(
            _Segment(
                meter_id,
                [r for r in CHARGED_REGISTERS[energy] if r in registers],
                start,
                end,
                starts_at_boundary=start in (installed_at, acc.activated_at),
                ends_at_boundary=end == removed_at,
            )
        )
    return out


def _chunk_sql(vendor: str, ids: list[int]) -> tuple[str, list[Any]]:
    """The chunk's one read: its due accounts (locked on PostgreSQL) with their balances and
    credit fields, their meters in place during the day and, per meter, the readings that fall
    exactly on the day's two midnights (the common case: no lookup around them is needed). The
    start midnight's comes from the daily index table when the day before ended there on a READ
    index (the same reading, not looked up again); an interpolated end is never taken."""
    pa = PrepaymentAccount._meta.db_table
    sp, meter = SupplyPoint._meta.db_table, Meter._meta.db_table
    ledger = LedgerAccount._meta.db_table
    meters = f"""SELECT m.id, m.registers, m.installed_at, m.removed_at FROM {meter} m
                WHERE m.supply_point_id = pa.supply_point_id
                  AND (m.installed_at IS NULL OR m.installed_at < %(end)s)
                  AND (m.removed_at IS NULL OR m.removed_at > %(start)s)"""
    if vendor == "postgresql":
        match, params = "pa.id = ANY(%s::bigint[])", [pg_array(ids)[0]]
        concat, lock = "string_agg", "FOR UPDATE OF pa"
        # One index probe per account and table: the LATERAL subqueries (kept apart by
        # OFFSET 0) stop the planner from hashing whole tables for a chunk of a small platform,
        # which costs more than the chunk's probes (about 3× for 5,000 of 100,000 accounts).
        joins = f"""
        CROSS JOIN LATERAL (SELECT sp.dso_id, sp.energy, sp.tariff_category FROM {sp} sp
                            WHERE sp.id = pa.supply_point_id OFFSET 0) sp
        CROSS JOIN LATERAL (SELECT adv.balance_cents FROM {ledger} adv
                            WHERE adv.id = pa.advance_account_id OFFSET 0) adv
        CROSS JOIN LATERAL (SELECT bal.balance_cents FROM {ledger} bal
                            WHERE bal.id = pa.balance_account_id OFFSET 0) bal
        LEFT JOIN LATERAL ({meters} OFFSET 0) m ON true"""
    else:
        match, params = f"pa.id IN ({','.join(str(int(i)) for i in ids)})", []
        concat, lock = "group_concat", ""
        joins = f"""
        JOIN {sp} sp ON sp.id = pa.supply_point_id
        JOIN {ledger} adv ON adv.id = pa.advance_account_id
        JOIN {ledger} bal ON bal.id = pa.balance_account_id
        LEFT JOIN {meter} m ON m.supply_point_id = pa.supply_point_id
             AND (m.installed_at IS NULL OR m.installed_at < %(end)s)
             AND (m.removed_at IS NULL OR m.removed_at > %(start)s)"""
    # Every charged register named: the (meter, register, …) indexes are then probed once per
    # register, instead of scanning the meter's whole history.
    charged = ", ".join(sorted({f"'{r}'" for regs in CHARGED_REGISTERS.values() for r in regs}))
    readings, daily = Reading._meta.db_table, DailyIndex._meta.db_table
    sql = f"""
        SELECT pa.id, pa.supply_point_id, sp.dso_id, sp.energy, sp.tariff_category,
               pa.balance_account_id, pa.advance_account_id, adv.balance_cents,
               pa.activated_at, pa.activation_day, pa.supply, bal.balance_cents,
               pa.credit_state, pa.low_credit, pa.low_credit_threshold_cents,
               pa.low_credit_days, pa.emergency_since, pa.exhausted_since,
               m.id, m.registers, m.installed_at, m.removed_at,
               COALESCE(
                   (SELECT {concat}(y.register || '=' || y.end_milli, ',') FROM {daily} y
                    WHERE y.meter_id = m.id AND y.register IN ({charged}) AND y.day = %(prev)s
                          AND NOT y.interpolated),
                   (SELECT {concat}(r.register || '=' || r.value_milli, ',') FROM {readings} r
                    WHERE r.meter_id = m.id AND r.register IN ({charged})
                          AND r.at = %(start)s)),
               (SELECT {concat}(r.register || '=' || r.value_milli, ',') FROM {readings} r
                WHERE r.meter_id = m.id AND r.register IN ({charged}) AND r.at = %(end)s)
        FROM {pa} pa {joins}
        WHERE {match.replace("%s", "%(ids)s")} AND pa.state = %(active)s
          AND (pa.last_closed_day = %(prev)s
               OR (pa.last_closed_day IS NULL AND pa.activation_day = %(day)s))
        ORDER BY pa.id, m.id
        {lock}
    """
    return sql, params


def _values(text: str | None) -> dict[str, int]:
    """ "1.8.1=123,1.8.2=45" → {"1.8.1": 123, "1.8.2": 45}."""
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        reg, _, value = item.partition("=")
        out[reg] = int(value)
    return out


def _read_chunk(
    day: date, ids: list[int], day_start: datetime, day_end: datetime
) -> tuple[list[_Account], dict[int, list[tuple]]]:
    """Lock and re-check the chunk's accounts (a concurrent run — late data, the scheduler —
    may have closed some) and read what closing them needs: (accounts, {account: meters}),
    each meter as (id, registers, installed_at, removed_at, {register: index read at the day's
    start}, {register: index read at its end})."""
    ops = connection.ops
    sql, match_params = _chunk_sql(connection.vendor, ids)
    params: dict[str, Any] = {
        "prev": ops.adapt_datefield_value(day - ONE_DAY),
        "day": ops.adapt_datefield_value(day),
        "start": ops.adapt_datetimefield_value(day_start),
        "end": ops.adapt_datetimefield_value(day_end),
        "active": AccountState.ACTIVE,
    }
    if match_params:
        params["ids"] = match_params[0]
    accounts: list[_Account] = []
    meters: dict[int, list[tuple]] = {}
    registers_of: dict[str, list[str]] = {}  # the same few JSON texts for every meter
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    for row in rows:
        pk = row[0]
        if not accounts or accounts[-1].pk != pk:
            accounts.append(
                _Account(
                    pk,
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    row[7],
                    _as_utc(row[8]),
                    _as_date(row[9]),
                    row[10],
                    row[11],
                    (*row[12:16], _as_utc(row[16]), _as_utc(row[17])),
                )
            )
            meters[pk] = []
        if row[18] is None:
            continue
        registers = row[19]
        if isinstance(registers, str):
            if registers not in registers_of:
                registers_of[registers] = json.loads(registers)
            registers = registers_of[registers]
        meters[pk].append(
            (
                row[18],
                registers,
                _as_utc(row[20]),
                _as_utc(row[21]),
                _values(row[22]),
                _values(row[23]),
            )
        )
    return accounts, meters


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _close_chunk(
    day: date, ids: list[int], ctx: _Context, result: CloseResult, settle: timedelta
) -> tuple[list[int], dict[int, str]]:
    """Close `day` for these accounts in one transaction, with the credit-control work for
    them. Returns (closed ids, {id: waiting})."""
    day_start, day_end = clock.day_bounds(day)
    now = clock.now()
    day_text = f"{day}"
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Every statement here is index-driven or bulk; JIT compiling them costs more.
            with connection.cursor() as cur:
                cur.execute("SET LOCAL jit = off")
        accounts, meters = _read_chunk(day, ids, day_start, day_end)
        if not accounts:
            return [], {}
        # The indexes at every segment's ends: a reading on a midnight came with the read;
        # any other end (no reading on the midnight, an activation or a meter exchange within
        # the day) is looked up around its instant.
        probes: list[Probe] = []
        ends: list[tuple] = []  # (reading before or at, reading after) per segment end
        looked_up: list[int] = []  # positions in `ends` filled by the lookup
        segments: dict[int, list[_Segment]] = {}
        for acc in accounts:
            acc_meters = meters[acc.pk]
            segs = segments[acc.pk] = _segments(acc, acc_meters, day_start, day_end)
            for seg in segs:
                _, _, _, _, at_start, at_end = next(m for m in acc_meters if m[0] == seg.meter_id)
                on_start = at_start if seg.start == day_start else {}
                on_end = at_end if seg.end == day_end else {}
                for reg in seg.registers:
                    for t, read in ((seg.start, on_start), (seg.end, on_end)):
                        if reg in read:
                            ends.append(((t, read[reg]), None))
                        else:
                            looked_up.append(len(ends))
                            ends.append((None, None))
                            probes.append(Probe(seg.meter_id, reg, t))
                    seg.probes.append((len(ends) - 2, len(ends) - 1))
        for i, n in zip(looked_up, neighbours(probes), strict=True):
            ends[i] = (n.before, n.after)

        transfers: list[Transfer] = []
        day_charges: list[tuple] = []
        daily: list[tuple] = []
        events: list[tuple[str, int, str, dict]] = []
        closed: list[_Account] = []
        waiting: dict[int, str] = {}
        for acc in accounts:
            energy = acc.energy
            counted = _counted(segments[acc.pk], ends)
            outcome = rules.close_account_day(
                counted[0] if counted else None,
                energy=energy,
                day=day,
                tariff=ctx.prices.get((acc.dso_id, energy, acc.tariff_category), []),
                gas_factors=ctx.factors.get(acc.dso_id, []),
                default_gas_factor=DEFAULT_GAS_FACTOR,
                activation_day=acc.activation_day,
                advance_outstanding_cents=-acc.advance_cents,
                recovery_per_day_cents=ctx.recovery_per_day[acc.dso_id],
                interrupted=acc.supply in INTERRUPTED_SUPPLY,
            )
            if isinstance(outcome, rules.Waiting):
                waiting[acc.pk] = outcome.reason
                for reg in outcome.missing_registers:
                    result.missing_prices.add((acc.dso_id, energy, acc.tariff_category, reg))
                continue
            assert counted is not None
            charge, recovery = outcome.charge_cents, outcome.recovery_cents
            kwh = _json(outcome.details["kwh"])
            if charge:
                transfers.append(
                    (
                        f"charge:{acc.pk}:{day_text}",
                        TransactionKind.CHARGE,
                        acc.supply_point_id,
                        day_text,
                        _json(outcome.details, kwh),
                        acc.balance_account_id,
                        ctx.sales[(acc.dso_id, energy)],
                        charge,
                    )
                )
            if recovery:
                transfers.append(
                    (
                        f"recovery:{acc.pk}:{day_text}",
                        TransactionKind.ADVANCE_RECOVERY,
                        acc.supply_point_id,
                        day_text,
                        "{}",
                        acc.balance_account_id,
                        acc.advance_account_id,
                        recovery,
                    )
                )
            if outcome.advance_repaid:
                events.append(
                    (
                        "advance_repaid",
                        acc.supply_point_id,
                        f"advance_repaid:{acc.pk}",
                        {"day": day_text},
                    )
                )
            day_charges.append((acc.pk, day, kwh, charge, recovery, now))
            for meter_id, reg, found_indexes in counted[1]:
                daily.append(
                    (
                        meter_id,
                        reg,
                        day,
                        rules.round_half_even(found_indexes.start),
                        rules.round_half_even(found_indexes.end),
                        rules.round_half_even(found_indexes.consumption),
                        found_indexes.interpolated,
                    )
                )
            closed.append(acc)

        balances, sales_deltas = post_transfers(transfers, at=now, day=day, hold=ctx.sales.values())
        copy_rows(
            DayCharge,
            ["account_id", "day", "kwh", "charge_cents", "recovery_cents", "closed_at"],
            day_charges,
        )
        copy_rows(
            DailyIndex,
            [
                "meter_id",
                "register",
                "day",
                "start_milli",
                "end_milli",
                "consumption_milli",
                "interpolated",
            ],
            daily,
        )
        for reason in (WaitingReason.NO_DATA, WaitingReason.NO_PRICE):
            ids_waiting = [pk for pk, r in waiting.items() if r == reason]
            if ids_waiting:
                PrepaymentAccount.objects.filter(pk__any_of=ids_waiting).update(
                    waiting_reason=reason
                )
        publish_many(events, at=now)
        closed_ids = [acc.pk for acc in closed]
        if closed:
            # The closed day and the credit state in one UPDATE of the accounts, from the rows
            # read above (locked since) and the balances the postings left.
            refresh_closed_credit_state(
                [
                    (
                        acc.pk,
                        acc.supply_point_id,
                        acc.dso_id,
                        acc.energy,
                        balances.get(acc.balance_account_id, acc.balance_cents),
                        *acc.credit,
                    )
                    for acc in closed
                ],
                day,
            )
            balance_changed.send(sender=PrepaymentAccount, account_ids=closed_ids, reason="close")
            # An account-day closes once (DayCharge is unique), so its smallest id names the
            # chunk's work for good.
            work.enqueue(
                CREDIT_WORK,
                f"{_credit_group(day)}:{closed_ids[0]}",
                {"day": day_text, "accounts": closed_ids},
                group=_credit_group(day),
                delay=settle,
            )
        # Last, just before the commit: the energy-sales accounts every chunk credits, locked
        # in one order (parallel chunks queue here for an instant instead of deadlocking).
        held = {a: d for a, d in sales_deltas.items() if d}
        if held:
            list(
                LedgerAccount.objects.select_for_update()
                .filter(pk__any_of=sorted(held))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            apply_balance_deltas(held, now)
    faults.point("close.after_chunk_commit")
    return closed_ids, waiting


def _json(values: dict, kwh: str = "") -> str:
    """A close's details as JSON: register names, numbers as texts, one level of nesting —
    nothing to escape (faster than json.dumps for a row per account). `kwh`: the "kwh" entry
    already written (the day charge's own text)."""
    return (
        "{"
        + ", ".join(
            f'"{k}": '
            + (kwh if kwh and k == "kwh" else _json(v) if isinstance(v, dict) else f'"{v}"')
            for k, v in values.items()
        )
        + "}"
    )


def _counted(
    segments: list[_Segment], ends: list[tuple]
) -> tuple[dict[str, int | Fraction], list[tuple[int, str, rules.SegmentIndexes]]] | None:
    """Thousandths counted per charged register over the day's segments, with each segment's
    indexes (for the daily index table); None if not known."""
    if not segments:
        return None
    total: dict[str, Fraction | int] = {}
    indexes: list[tuple[int, str, rules.SegmentIndexes]] = []
    for s in segments:
        for reg, (i, j) in zip(s.registers, s.probes, strict=True):
            part = rules.segment_indexes(
                s.start, s.end, ends[i], ends[j], s.starts_at_boundary, s.ends_at_boundary
            )
            if part is None:
                return None
            total[reg] = total.get(reg, 0) + part.consumption
            if part.known:
                indexes.append((s.meter_id, reg, part))
    return total, indexes
