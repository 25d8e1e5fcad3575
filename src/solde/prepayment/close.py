"""The daily close (RULES.md §3–§6): charge each closed day's consumption, recover the advance.

Set-based per day over every due account, in chunks: each chunk is one transaction, so a crash
mid-run leaves whole days closed or not at all, and a rerun completes the rest. Every posting
carries an idempotency key (`charge:{account}:{day}`, `recovery:{account}:{day}`). Each chunk
also writes, in its transaction, the credit-control work for the accounts it closed
("credit.close", solde.work): after a crash that work is still there and is done by the rerun
or by a worker, once. The per-account arithmetic is `rules.close_account_day`.
"""

from __future__ import annotations

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

from django.db import connection, transaction
from django.db.models import Max, Min, Q, QuerySet

from solde import clock, faults, work
from solde.bulk import copy_rows  # also registers the `any_of` lookup
from solde.ledger.models import AccountKind, LedgerAccount, TransactionKind
from solde.ledger.services import Posting, account, post_many
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
from solde.prepayment.services import refresh_credit_state
from solde.prepayment.signals import balance_changed
from solde.readings.indexes import Neighbours, Probe, neighbours
from solde.registry.models import CHARGED_REGISTERS, Dso, GasConversionFactor, Meter, Tariff

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
    run.save(update_fields=["finished_at", "closed", "waiting_for_data", "waiting_for_price"])
    return result


def last_platform_closed_day() -> date | None:
    """The latest day a close for every account has finished (late data is charged up to it)."""
    return CloseRun.objects.filter(ean="", finished_at__isnull=False).aggregate(d=Max("day"))["d"]


def catch_up(supply_point_ids: Iterable[int]) -> CloseResult | None:
    """Charge the days up to the platform's last closed day for these supply points (late data)."""
    last = last_platform_closed_day()
    if last is None:
        return None
    ids = list(
        PrepaymentAccount.objects.filter(
            supply_point_id__any_of=list(supply_point_ids),
            state=AccountState.ACTIVE,
            activation_day__lte=last,
        )
        .exclude(last_closed_day__gte=last)
        .values_list("pk", flat=True)
    )
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
    for meter_id, registers, installed_at, removed_at in meters:
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


def _close_chunk(
    day: date, ids: list[int], ctx: _Context, result: CloseResult, settle: timedelta
) -> tuple[list[int], dict[int, str]]:
    """Close `day` for these accounts in one transaction, with the credit-control work for
    them. Returns (closed ids, {id: waiting})."""
    day_start, day_end = clock.day_bounds(day)
    now = clock.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Every statement here is index-driven or bulk; JIT compiling them costs more.
            with connection.cursor() as cur:
                cur.execute("SET LOCAL jit = off")
        # Lock and re-check: a concurrent run (late data, the scheduler) may have closed some.
        accounts = [
            _Account(*row)
            for row in _due(
                PrepaymentAccount.objects.filter(pk__any_of=ids, state=AccountState.ACTIVE), day
            )
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list(
                "pk",
                "supply_point_id",
                "supply_point__dso_id",
                "supply_point__energy",
                "supply_point__tariff_category",
                "balance_account_id",
                "advance_account_id",
                "advance_account__balance_cents",
                "activated_at",
                "activation_day",
                "supply",
            )
        ]
        if not accounts:
            return [], {}
        meters: dict[int, list[tuple]] = defaultdict(list)
        for meter_id, sp_id, registers, installed_at, removed_at in (
            Meter.objects.filter(supply_point_id__any_of=[a.supply_point_id for a in accounts])
            .filter(Q(installed_at__isnull=True) | Q(installed_at__lt=day_end))
            .filter(Q(removed_at__isnull=True) | Q(removed_at__gt=day_start))
            .values_list("pk", "supply_point_id", "registers", "installed_at", "removed_at")
        ):
            meters[sp_id].append((meter_id, registers, installed_at, removed_at))

        segments = {
            a.pk: _segments(a, meters[a.supply_point_id], day_start, day_end) for a in accounts
        }
        probe_index: dict[Probe, int] = {}
        for segs in segments.values():
            for seg in segs:
                for reg in seg.registers:
                    pair = []
                    for t in (seg.start, seg.end):
                        pair.append(
                            probe_index.setdefault(Probe(seg.meter_id, reg, t), len(probe_index))
                        )
                    seg.probes.append((pair[0], pair[1]))
        found = neighbours(list(probe_index))

        postings: list[Posting] = []
        day_charges: list[tuple] = []
        events: list[tuple[str, int, str, dict]] = []
        closed: list[int] = []
        waiting: dict[int, str] = {}
        for acc in accounts:
            energy = acc.energy
            outcome = rules.close_account_day(
                _consumption(segments[acc.pk], found),
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
            charge, recovery = outcome.charge_cents, outcome.recovery_cents
            if charge:
                postings.append(
                    Posting(
                        key=f"charge:{acc.pk}:{day}",
                        kind=TransactionKind.CHARGE,
                        entries=[
                            (acc.balance_account_id, -charge),
                            (ctx.sales_account(acc.dso_id, energy), charge),
                        ],
                        at=now,
                        day=day,
                        supply_point_id=acc.supply_point_id,
                        reference=f"{day}",
                        details=outcome.details,
                    )
                )
            if recovery:
                postings.append(
                    Posting(
                        key=f"recovery:{acc.pk}:{day}",
                        kind=TransactionKind.ADVANCE_RECOVERY,
                        entries=[
                            (acc.balance_account_id, -recovery),
                            (acc.advance_account_id, recovery),
                        ],
                        at=now,
                        day=day,
                        supply_point_id=acc.supply_point_id,
                        reference=f"{day}",
                    )
                )
            if outcome.advance_repaid:
                events.append(
                    (
                        "advance_repaid",
                        acc.supply_point_id,
                        f"advance_repaid:{acc.pk}",
                        {"day": f"{day}"},
                    )
                )
            kwh = _json_texts(outcome.details["kwh"])
            day_charges.append((acc.pk, day, kwh, charge, recovery, now))
            closed.append(acc.pk)

        # The energy-sales accounts are shared by every chunk: lock them in one order so
        # parallel chunks queue here instead of deadlocking.
        sales = sorted({e[0] for p in postings for e in p.entries} & set(ctx.sales.values()))
        if sales:
            list(
                LedgerAccount.objects.select_for_update()
                .filter(pk__any_of=sales)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        post_many(postings)
        copy_rows(
            DayCharge,
            ["account_id", "day", "kwh", "charge_cents", "recovery_cents", "closed_at"],
            day_charges,
        )
        if closed:
            PrepaymentAccount.objects.filter(pk__any_of=closed).update(
                last_closed_day=day, waiting_reason=""
            )
        for reason in (WaitingReason.NO_DATA, WaitingReason.NO_PRICE):
            ids_waiting = [pk for pk, r in waiting.items() if r == reason]
            if ids_waiting:
                PrepaymentAccount.objects.filter(pk__any_of=ids_waiting).update(
                    waiting_reason=reason
                )
        publish_many(events, at=now)
        if closed:
            refresh_credit_state(closed)
            balance_changed.send(sender=PrepaymentAccount, account_ids=closed, reason="close")
            # An account-day closes once (DayCharge is unique), so its smallest id names the
            # chunk's work for good.
            work.enqueue(
                CREDIT_WORK,
                f"{_credit_group(day)}:{closed[0]}",
                {"day": f"{day}", "accounts": closed},
                group=_credit_group(day),
                delay=settle,
            )
    faults.point("close.after_chunk_commit")
    return closed, waiting


def _json_texts(values: dict[str, str]) -> str:
    """{"1.8.1": "6.123"} as JSON, for plain register names and numbers (no escaping needed)."""
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in values.items()) + "}"


def _consumption(
    segments: list[_Segment], found: list[Neighbours]
) -> dict[str, int | Fraction] | None:
    """Thousandths counted per charged register over the day's segments; None if not known."""
    if not segments:
        return None
    total: dict[str, Fraction | int] = {}
    for s in segments:
        for reg, (i, j) in zip(s.registers, s.probes, strict=True):
            a, b = found[i], found[j]
            part = rules.segment_consumption(
                s.start,
                s.end,
                (a.before, a.after),
                (b.before, b.after),
                s.starts_at_boundary,
                s.ends_at_boundary,
            )
            if part is None:
                return None
            total[reg] = total.get(reg, 0) + part
    return total
