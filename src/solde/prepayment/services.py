"""Prepayment account operations. Each public service is one transaction."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection, connections, router, transaction
from django.db.models import Count, DateField, F, Func, Max, OuterRef, QuerySet, Subquery, Sum

from solde import clock
from solde.ledger.models import AccountKind, Entry, LedgerAccount, Transaction, TransactionKind
from solde.ledger.services import Posting, post_many, post_transfer
from solde.notifications.events import publish_many
from solde.prepayment import rules
from solde.prepayment.models import (
    INTERRUPTED_SUPPLY,
    AccountState,
    DayCharge,
    PrepaymentAccount,
)
from solde.prepayment.signals import account_activated, balance_changed
from solde.registry.models import Dso, SupplyPoint


def open_account(supply_point: SupplyPoint) -> PrepaymentAccount:
    """The supply point's prepayment account (pending until its first reading), made once."""
    existing = PrepaymentAccount.objects.filter(supply_point=supply_point).first()
    if existing:
        return existing
    balance = LedgerAccount.objects.create(
        kind=AccountKind.CUSTOMER_BALANCE, code=f"balance:{supply_point.ean}"
    )
    advance = LedgerAccount.objects.create(
        kind=AccountKind.ADVANCE, code=f"advance:{supply_point.ean}"
    )
    return PrepaymentAccount.objects.create(
        supply_point=supply_point, balance_account=balance, advance_account=advance
    )


def open_accounts(supply_point_ids: Sequence[int]) -> int:
    """Open the pending accounts of new supply points set-based (one query per table).

    Called by the registry's `supply_points_created` signal inside its transaction; a supply
    point that already has an account is skipped. Returns how many were opened."""
    have = set(
        PrepaymentAccount.objects.filter(supply_point_id__in=supply_point_ids).values_list(
            "supply_point_id", flat=True
        )
    )
    todo = list(
        SupplyPoint.objects.filter(pk__in=[i for i in supply_point_ids if i not in have])
        .order_by("pk")
        .values_list("pk", "ean")
    )
    if not todo:
        return 0
    ledger_accounts = LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(kind=kind, code=f"{prefix}:{ean}")
            for _pk, ean in todo
            for kind, prefix in (
                (AccountKind.CUSTOMER_BALANCE, "balance"),
                (AccountKind.ADVANCE, "advance"),
            )
        ]
    )
    by_code = {a.code: a.pk for a in ledger_accounts if a.pk is not None}
    if len(by_code) != len(ledger_accounts):  # backends that do not return ids
        codes = [a.code for a in ledger_accounts]
        by_code = dict(LedgerAccount.objects.filter(code__in=codes).values_list("code", "pk"))
    PrepaymentAccount.objects.bulk_create(
        [
            PrepaymentAccount(
                supply_point_id=pk,
                balance_account_id=by_code[f"balance:{ean}"],
                advance_account_id=by_code[f"advance:{ean}"],
            )
            for pk, ean in todo
        ]
    )
    return len(todo)


def on_supply_points_created(sender, supply_point_ids: Sequence[int], **kwargs) -> None:
    open_accounts(supply_point_ids)


def carried_credit(supply_point_ids: Iterable[int]) -> set[int]:
    """The supply points that opened with a positive balance carried from a budget meter."""
    ids = list(supply_point_ids)
    found: set[int] = set()
    for i in range(0, len(ids), 2000):
        found.update(
            Transaction.objects.filter(
                kind=TransactionKind.CARRIED_BALANCE,
                supply_point_id__in=ids[i : i + 2000],
                details__credit=True,
            ).values_list("supply_point_id", flat=True)
        )
    return found


def activate(first_reading_at: Mapping[int, datetime]) -> int:
    """Activate pending accounts at their first reading and credit the starting advance.

    `first_reading_at` maps supply point id → the earliest accepted reading instant. Runs inside
    the caller's transaction (ingestion). Returns how many accounts were activated.
    """
    if not first_reading_at:
        return 0
    accounts = list(
        PrepaymentAccount.objects.select_for_update()
        .filter(supply_point_id__in=list(first_reading_at), state=AccountState.PENDING)
        .select_related("supply_point__dso")
    )
    if not accounts:
        return 0
    postings, events = [], []
    carried = carried_credit(acc.supply_point_id for acc in accounts)
    for acc in accounts:
        at = first_reading_at[acc.supply_point_id]
        acc.state = AccountState.ACTIVE
        acc.activated_at = at
        acc.activation_day = clock.local_date(at)
        sp = acc.supply_point
        # A budget-meter customer who brought credit along starts with it, not an advance.
        advance = 0 if sp.pk in carried else sp.dso.advance_cents(sp.energy)
        if advance:
            postings.append(
                Posting(
                    key=f"advance:{acc.pk}",
                    kind=TransactionKind.ADVANCE,
                    entries=[
                        (acc.balance_account_id, advance),
                        (acc.advance_account_id, -advance),
                    ],
                    at=at,
                    supply_point_id=sp.pk,
                    reference="starting advance",
                )
            )
        if advance:  # (the migration letter told a budget-meter customer about the credit)
            events.append(
                ("prepayment_activated", sp.pk, f"activated:{acc.pk}", {"advance_cents": advance})
            )
    PrepaymentAccount.objects.bulk_update(
        accounts, ["state", "activated_at", "activation_day"], batch_size=2000
    )
    post_many(postings)
    publish_many(events)
    ids = [a.pk for a in accounts]
    refresh_credit_state(ids)
    account_activated.send(sender=PrepaymentAccount, account_ids=ids)
    balance_changed.send(sender=PrepaymentAccount, account_ids=ids, reason="activation")
    return len(accounts)


def credit(
    account: PrepaymentAccount,
    cents: int,
    *,
    key: str,
    kind: str,
    counter_account_id: int,
    reference: str = "",
    details: dict | None = None,
    at: datetime | None = None,
    already_locked: bool = False,
) -> tuple[int, bool]:
    """Move `cents` (negative to debit) onto the customer's balance against a counterpart
    account, once per `key`. Runs inside the caller's transaction. Returns (new balance, posted).

    Refreshes the credit state and tells credit control (reconnection) when money moved.
    `already_locked`: the caller holds the account's row lock (select_for_update) in this
    transaction and passes that fresh instance; it is not locked and read again.
    """
    locked = (
        account
        if already_locked
        else PrepaymentAccount.objects.select_for_update().get(pk=account.pk)
    )
    tx_id, posted_balance = post_credit(
        locked,
        cents,
        key=key,
        kind=kind,
        counter_account_id=counter_account_id,
        reference=reference,
        details=details,
        at=at,
    )
    if posted_balance is None:  # posted already: the balance as it stands
        return balance_of_account(locked), False
    return posted_balance, True


class LockedAccount(Protocol):
    """An account whose row lock the caller holds: what `post_credit` uses of it."""

    @property
    def pk(self) -> Any: ...
    @property
    def balance_account_id(self) -> int: ...
    @property
    def supply_point_id(self) -> int: ...


def post_credit(
    locked: LockedAccount,
    cents: int,
    *,
    key: str,
    kind: str,
    counter_account_id: int,
    reference: str = "",
    details: dict | None = None,
    at: datetime | None = None,
    facts: object = None,
) -> tuple[int, int] | tuple[None, None]:
    """`credit` for a caller that holds the account's row lock: (the new ledger transaction's
    id, the new balance), or (None, None) when `key` was posted already. The posting is one
    statement on PostgreSQL (`ledger.services.post_transfer`). `facts`: credit control's
    `Facts` of the account, read with the lock; when the rules say the change leaves nothing
    to decide, credit control does not read the account again."""
    tx_id: int | None
    if cents == 0:  # a transaction without entries, as post_many records it
        posting = Posting(key, kind, [], at, None, locked.supply_point_id, reference, details or {})
        if not post_many([posting]):
            return None, None
        tx_id = Transaction.objects.values_list("pk", flat=True).get(idempotency_key=key)
        balance = balance_of_account(locked)
    else:
        debit, credit_to = counter_account_id, locked.balance_account_id
        if cents < 0:
            debit, credit_to = credit_to, debit
        now = clock.now()
        tx_id, stored = post_transfer(
            (
                key,
                kind,
                locked.supply_point_id,
                reference,
                json.dumps(details or {}),
                debit,
                credit_to,
                abs(cents),
            ),
            at=at or now,
            updated_at=now,
        )
        if tx_id is None:
            return None, None
        balance = stored[locked.balance_account_id]
    refresh_credit_state([locked.pk])
    balance_changed.send(
        sender=PrepaymentAccount,
        account_ids=[locked.pk],
        reason=kind,
        facts={locked.pk: facts} if facts is not None else None,
        moved={locked.pk: (balance, cents)},
    )
    return tx_id, balance


def balance_of_account(account: LockedAccount) -> int:
    return LedgerAccount.objects.values_list("balance_cents", flat=True).get(
        pk=account.balance_account_id
    )


def recent_daily_cents(
    account_ids: Iterable[int], days: int, last_closed_day: date | None = None
) -> dict[int, list[int]]:
    """Charge + recovery of each account's last `days` closed days (for days left).
    `last_closed_day`: the accounts' last closed day when the caller knows it (the close,
    before it writes it)."""
    ids = list(account_ids)
    out: dict[int, list[int]] = defaultdict(list)
    if not ids:
        return out
    last: dict[int, date] = (
        dict.fromkeys(ids, last_closed_day)
        if last_closed_day is not None
        else {
            pk: day
            for pk, day in PrepaymentAccount.objects.filter(
                pk__any_of=ids, last_closed_day__isnull=False
            ).values_list("pk", "last_closed_day")
            if day is not None
        }
    )
    if not last:
        return out
    since = min(last.values()) - timedelta(days=days - 1)
    rows = DayCharge.objects.filter(account_id__any_of=list(last), day__gte=since).values_list(
        "account_id", "day", "charge_cents", "recovery_cents"
    )
    for acc_id, day, charge, recovery in rows:
        if day > last[acc_id] - timedelta(days=days):
            out[acc_id].append(charge + recovery)
    return out


# Up to this many accounts, refresh_credit_state reads each one's forecast window in its rows'
# query (a top-up, an adjustment); more (the close), in one query for all their days.
_FEW_ACCOUNTS = 50


# What refresh_credit_state reads of an account, in this order: (pk, supply point id, DSO code,
# energy, balance cents, credit state, low credit, own low-credit threshold, own low-credit days,
# emergency since, exhausted since). The close reads the same with its chunk.
CreditRow = tuple[
    int, int, str, str, int, str, bool, int | None, int | None, datetime | None, datetime | None
]
CREDIT_FIELDS = (
    "pk",
    "supply_point_id",
    "supply_point__dso_id",
    "supply_point__energy",
    "balance_account__balance_cents",
    "credit_state",
    "low_credit",
    "low_credit_threshold_cents",
    "low_credit_days",
    "emergency_since",
    "exhausted_since",
)


def refresh_credit_state(
    account_ids: Iterable[int], *, closed_day: date | None = None
) -> list[int]:
    """Recompute credit state, low credit and emergency flags from the ledger, set-based, and
    publish the events of RULES.md §10 once per occurrence. Returns ids whose state changed.

    `closed_day`: the daily close's chunk — the accounts' last closed day moves to it and their
    waiting reason clears in the same UPDATE as their credit state (each row written once)."""
    ids = list(account_ids)
    if not ids:
        return []
    now = clock.now()
    dsos = {d.code: d for d in Dso.objects.all()}
    changed: list[PrepaymentAccount] = []
    events: list[tuple[str, int, str, dict]] = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        accounts = PrepaymentAccount.objects.filter(pk__any_of=chunk, state=AccountState.ACTIVE)
        # A top-up or an adjustment (a few accounts): the forecast window is summed by the
        # database in the same query. The close's thousands: one query for all their days.
        few = closed_day is None and len(chunk) <= _FEW_ACCOUNTS
        if few and len(chunk) == 1:
            rows = _state_row(chunk[0])  # a top-up: the read compiled once per process
        else:
            if few:
                accounts = _with_view_figures(accounts)
            # Plain rows, not model instances: this runs for every account of a daily close.
            rows = list(accounts.values_list(*CREDIT_FIELDS, *(_WINDOW_COLUMNS if few else ())))
        window = (
            {r[0]: (r[-2] or 0, r[-1] or 0) for r in rows}
            if few
            else _windows(rows, dsos, closed_day)
        )
        _credit_changes(rows, window, dsos, now, changed, events)
    if closed_day is not None:
        _write_closed(ids, closed_day, changed)
    else:
        PrepaymentAccount.objects.bulk_update(
            changed,
            ["credit_state", "low_credit", "emergency_since", "exhausted_since"],
            batch_size=2000,
        )
    publish_many(events, at=now)
    return [a.pk for a in changed]


def refresh_closed_credit_state(rows: Sequence[CreditRow], closed_day: date) -> list[int]:
    """`refresh_credit_state(ids, closed_day=…)` for a close's chunk that has read its
    accounts' rows itself (with the balances after its postings, under the accounts' lock):
    the accounts are not read again."""
    if not rows:
        return []
    now = clock.now()
    dsos = {d.code: d for d in Dso.objects.all()}
    changed: list[PrepaymentAccount] = []
    events: list[tuple[str, int, str, dict]] = []
    _credit_changes(rows, _windows(rows, dsos, closed_day), dsos, now, changed, events)
    _write_closed([r[0] for r in rows], closed_day, changed)
    publish_many(events, at=now)
    return [a.pk for a in changed]


def _windows(
    rows: Sequence[Sequence], dsos: Mapping[str, Dso], last_closed_day: date | None
) -> dict[int, tuple[int, int]]:
    """Each account's forecast window: (the sum of its recent closed days, their count)."""
    # Each DSO sets how many closed days the forecast averages (Dso.days_left_history).
    per_length: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        per_length[dsos[r[2]].days_left_history].append(r[0])
    window: dict[int, tuple[int, int]] = {}
    for length, pks in per_length.items():
        for pk, days_cents in recent_daily_cents(pks, length, last_closed_day).items():
            window[pk] = (sum(days_cents), len(days_cents))
    return window


def _credit_changes(
    rows: Iterable[Sequence],
    window: Mapping[int, tuple[int, int]],
    dsos: Mapping[str, Dso],
    now: datetime,
    changed: list[PrepaymentAccount],
    events: list[tuple[str, int, str, dict]],
) -> None:
    """The rules of RULES.md §10 for each row (CreditRow first): the accounts whose credit
    fields change go to `changed`, their events to `events`."""
    stamp = int(now.timestamp())
    for row in rows:
        (
            pk,
            sp_id,
            dso_code,
            energy,
            balance,
            old_state,
            old_low,
            threshold,
            days,
            emergency_since,
            exhausted_since,
        ) = row[:11]
        dso = dsos[dso_code]
        limit = dso.emergency_credit_cents(energy)
        state = rules.credit_state(balance, limit)
        left = rules.days_left_of(balance, limit, *window.get(pk, (0, 0)))
        policy = rules.LowCreditPolicy(
            threshold_cents=threshold if threshold is not None else dso.low_credit_threshold_cents,
            days=days if days is not None else dso.low_credit_days,
        )
        low = rules.is_low(balance, left, policy)
        if state == old_state and low == old_low:
            continue
        if low and not old_low:
            events.append(
                ("low_credit", sp_id, f"low_credit:{pk}:{stamp}", {"balance_cents": balance})
            )
        if state != "ok" and old_state == "ok":
            emergency_since = now
            events.append(
                (
                    "emergency_credit_engaged",
                    sp_id,
                    f"emergency:{pk}:{stamp}",
                    {"balance_cents": balance},
                )
            )
        if state == "exhausted" and old_state != "exhausted":
            exhausted_since = now
        if state == "ok":
            emergency_since = None
        if state != "exhausted":
            exhausted_since = None
        changed.append(
            PrepaymentAccount(
                pk=pk,
                credit_state=state,
                low_credit=low,
                emergency_since=emergency_since,
                exhausted_since=exhausted_since,
            )
        )


_WINDOW_COLUMNS = ("recent_cents", "recent_days")
_PK_SLOT = -7_777_777_777  # stands for the account id while compiling; never a real id


@functools.cache
def _compiled_state_read(alias: str):
    query = (
        _with_view_figures(PrepaymentAccount.objects.using(alias))
        .filter(pk=_PK_SLOT, state=AccountState.ACTIVE)
        .values_list(*CREDIT_FIELDS, *_WINDOW_COLUMNS)
        .query
    )
    compiler = query.get_compiler(alias)
    sql, params = compiler.as_sql()
    converters = compiler.get_converters([col for col, _, _ in compiler.select])
    return compiler, sql, list(params), params.index(_PK_SLOT), converters


def _state_row(pk: int) -> list[tuple]:
    """refresh_credit_state's read of one account (its few-accounts read, as the ORM compiles
    it), compiled once per process and database: compiling it cost more than running it."""
    alias = router.db_for_read(PrepaymentAccount)
    compiler, sql, params, slot, converters = _compiled_state_read(alias)
    params = [*params[:slot], pk, *params[slot + 1 :]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return list(compiler.apply_converters(rows, converters)) if converters else rows


def _write_closed(ids: list[int], day: date, changed: list[PrepaymentAccount]) -> None:
    """One UPDATE for a close's chunk: every account's closed day, and the credit fields of
    those that changed (the others keep theirs)."""
    fields = ("credit_state", "low_credit", "emergency_since", "exhausted_since")
    if connection.vendor != "postgresql":
        PrepaymentAccount.objects.filter(pk__any_of=ids).update(
            last_closed_day=day, waiting_reason=""
        )
        PrepaymentAccount.objects.bulk_update(changed, list(fields), batch_size=2000)
        return
    table = PrepaymentAccount._meta.db_table
    by_pk = {a.pk: a for a in changed}
    rows = [(pk, by_pk.get(pk)) for pk in ids]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            UPDATE {table} a SET last_closed_day = %s, waiting_reason = '',
                credit_state = CASE WHEN v.changed THEN v.credit_state ELSE a.credit_state END,
                low_credit = CASE WHEN v.changed THEN v.low_credit ELSE a.low_credit END,
                emergency_since = CASE WHEN v.changed THEN v.emergency_since
                                       ELSE a.emergency_since END,
                exhausted_since = CASE WHEN v.changed THEN v.exhausted_since
                                       ELSE a.exhausted_since END
            FROM unnest(%s::bigint[], %s::bool[], %s::text[], %s::bool[], %s::timestamptz[],
                        %s::timestamptz[])
                 AS v(id, changed, credit_state, low_credit, emergency_since, exhausted_since)
            WHERE a.id = v.id
            """,
            [
                day,
                [pk for pk, _ in rows],
                [a is not None for _, a in rows],
                [a.credit_state if a else None for _, a in rows],
                [a.low_credit if a else None for _, a in rows],
                [a.emergency_since if a else None for _, a in rows],
                [a.exhausted_since if a else None for _, a in rows],
            ],
        )


@dataclass
class BalanceView:
    """What the API, portal and phone line show of an account."""

    ean: str
    state: str
    balance_cents: int
    emergency_credit_limit_cents: int
    emergency_credit_remaining_cents: int
    advance_outstanding_cents: int
    low_credit: bool
    days_left: Decimal | None
    supply: str
    last_update: datetime | None
    last_closed_day: date | None
    waiting_reason: str = ""


class _DaysBefore(Func):
    """A date column minus an integer column of days (the forecast window's first day)."""

    output_field = DateField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: date - integer = date
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ")

    def as_sqlite(self, compiler, connection, **extra):
        day, days = (compiler.compile(e) for e in self.get_source_expressions())
        return f"date({day[0]}, '-' || ({days[0]}) || ' days')", [*day[1], *days[1]]


def _with_view_figures(accounts: QuerySet[PrepaymentAccount]) -> QuerySet[PrepaymentAccount]:
    """Annotate what the balance view needs beyond the account's row, in the same query:
    `last_update` (the latest instant of the balance account's ledger lines) and `recent_cents`
    / `recent_days` (the sum and count of charge + recovery over the DSO's forecast window of
    closed days, as `recent_daily_cents`)."""
    window = DayCharge.objects.filter(
        account_id=OuterRef("pk"),
        day__gt=_DaysBefore(
            OuterRef("last_closed_day"), OuterRef("supply_point__dso__days_left_history")
        ),
    ).order_by()
    latest = (
        Entry.objects.filter(account_id=OuterRef("balance_account_id"))
        .order_by()
        .values("account_id")
        .annotate(at=Max("transaction__at"))
        .values("at")
    )
    return accounts.annotate(
        last_update=Subquery(latest),
        recent_cents=Subquery(
            window.values("account_id")
            .annotate(total=Sum(F("charge_cents") + F("recovery_cents")))
            .values("total")
        ),
        recent_days=Subquery(window.values("account_id").annotate(n=Count("*")).values("n")),
    )


# The balance API's read: the columns of the view only, compiled by the ORM once per process
# and database (compiling it cost more than running it: about 2 ms of the request's 5).
_VIEW_COLUMNS = (
    "supply_point__ean",
    "state",
    "balance_account__balance_cents",
    "supply_point__energy",
    "supply_point__dso__emergency_credit_electricity_cents",
    "supply_point__dso__emergency_credit_gas_cents",
    "advance_account__balance_cents",
    "low_credit",
    "supply",
    "last_update",
    "last_closed_day",
    "waiting_reason",
    "recent_cents",
    "recent_days",
)
_EAN_SLOT = "\x00ean"  # stands for the EAN while compiling; a real EAN never holds NUL


@functools.cache
def _compiled_view_read(alias: str):
    query = (
        _with_view_figures(PrepaymentAccount.objects.using(alias))
        .filter(supply_point__ean=_EAN_SLOT)
        .values_list(*_VIEW_COLUMNS)[:1]
        .query
    )
    compiler = query.get_compiler(alias)
    sql, params = compiler.as_sql()
    converters = compiler.get_converters([col for col, _, _ in compiler.select])
    return compiler, sql, list(params), params.index(_EAN_SLOT), converters


def balance_view_of(ean: str) -> BalanceView | None:
    """The balance view of an EAN in one query (the balance API); None if there is none."""
    alias = router.db_for_read(PrepaymentAccount)
    compiler, sql, params, slot, converters = _compiled_view_read(alias)
    params = [*params[:slot], ean, *params[slot + 1 :]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    (
        ean,
        state,
        balance,
        energy,
        limit_electricity,
        limit_gas,
        advance,
        low_credit,
        supply,
        last_update,
        last_closed_day,
        waiting_reason,
        recent_cents,
        recent_days,
    ) = next(iter(compiler.apply_converters(rows, converters)))
    limit = Dso(
        emergency_credit_electricity_cents=limit_electricity,
        emergency_credit_gas_cents=limit_gas,
    ).emergency_credit_cents(energy)
    return BalanceView(
        ean=ean,
        state=state,
        balance_cents=balance,
        emergency_credit_limit_cents=limit,
        emergency_credit_remaining_cents=rules.emergency_remaining_cents(balance, limit),
        advance_outstanding_cents=-advance,
        low_credit=low_credit,
        days_left=rules.days_left_of(balance, limit, recent_cents or 0, recent_days or 0),
        supply=supply,
        last_update=last_update,
        last_closed_day=last_closed_day,
        waiting_reason=waiting_reason,
    )


def balance_view(account: PrepaymentAccount) -> BalanceView:
    """The account's view (the portal, the console, the phone line, meter displays): one query
    for the figures beyond its row; its supply point, DSO and ledger accounts are read through
    the instance (select_related them). The API reads an EAN's view with `balance_view_of`."""
    figures = (
        _with_view_figures(PrepaymentAccount.objects.filter(pk=account.pk))
        .values("last_update", "recent_cents", "recent_days")  # type: ignore[misc]
        .get()
    )
    sp = account.supply_point
    balance = account.balance_account.balance_cents
    limit = sp.dso.emergency_credit_cents(sp.energy)
    return BalanceView(
        ean=sp.ean,
        state=account.state,
        balance_cents=balance,
        emergency_credit_limit_cents=limit,
        emergency_credit_remaining_cents=rules.emergency_remaining_cents(balance, limit),
        advance_outstanding_cents=-account.advance_account.balance_cents,
        low_credit=account.low_credit,
        days_left=rules.days_left_of(
            balance, limit, figures["recent_cents"] or 0, figures["recent_days"] or 0
        ),
        supply=account.supply,
        last_update=figures["last_update"],
        last_closed_day=account.last_closed_day,
        waiting_reason=account.waiting_reason,
    )


def is_interrupted(account: PrepaymentAccount) -> bool:
    return account.supply in INTERRUPTED_SUPPLY


@transaction.atomic
def set_low_credit_preferences(
    account: PrepaymentAccount, threshold_cents: int | None, days: int | None
) -> None:
    """The customer's own low-credit thresholds (None = the DSO's default)."""
    account.low_credit_threshold_cents = threshold_cents
    account.low_credit_days = days
    account.save(update_fields=["low_credit_threshold_cents", "low_credit_days"])
    refresh_credit_state([account.pk])
