"""Prepayment account operations. Each public service is one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max

from solde import clock
from solde.ledger.models import AccountKind, LedgerAccount, Transaction, TransactionKind
from solde.ledger.services import Posting, post_many
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
    posted = post_many(
        [
            Posting(
                key=key,
                kind=kind,
                entries=[(locked.balance_account_id, cents), (counter_account_id, -cents)],
                at=at,
                supply_point_id=locked.supply_point_id,
                reference=reference,
                details=details or {},
            )
        ]
    )
    if posted:
        refresh_credit_state([locked.pk])
        balance_changed.send(sender=PrepaymentAccount, account_ids=[locked.pk], reason=kind)
    balance = LedgerAccount.objects.values_list("balance_cents", flat=True).get(
        pk=locked.balance_account_id
    )
    return balance, bool(posted)


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
    stamp = int(now.timestamp())
    dsos = {d.code: d for d in Dso.objects.all()}
    changed: list[PrepaymentAccount] = []
    events: list[tuple[str, int, str, dict]] = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        # Plain rows, not model instances: this runs for every account of a daily close.
        rows = list(
            PrepaymentAccount.objects.filter(
                pk__any_of=chunk, state=AccountState.ACTIVE
            ).values_list(
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
        )
        # Each DSO sets how many closed days the forecast averages (Dso.days_left_history).
        per_length: dict[int, list[int]] = defaultdict(list)
        for r in rows:
            per_length[dsos[r[2]].days_left_history].append(r[0])
        history: dict[int, list[int]] = {}
        for length, pks in per_length.items():
            history.update(recent_daily_cents(pks, length, closed_day))
        for (
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
        ) in rows:
            dso = dsos[dso_code]
            limit = dso.emergency_credit_cents(energy)
            state = rules.credit_state(balance, limit)
            left = rules.days_left(balance, limit, history.get(pk, []))
            policy = rules.LowCreditPolicy(
                threshold_cents=threshold
                if threshold is not None
                else dso.low_credit_threshold_cents,
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


def balance_view(account: PrepaymentAccount) -> BalanceView:
    sp = account.supply_point
    balance = account.balance_account.balance_cents
    limit = sp.dso.emergency_credit_cents(sp.energy)
    history = recent_daily_cents([account.pk], sp.dso.days_left_history).get(account.pk, [])
    last_update = account.balance_account.entries.aggregate(m=Max("transaction__at"))["m"]
    return BalanceView(
        ean=sp.ean,
        state=account.state,
        balance_cents=balance,
        emergency_credit_limit_cents=limit,
        emergency_credit_remaining_cents=rules.emergency_remaining_cents(balance, limit),
        advance_outstanding_cents=-account.advance_account.balance_cents,
        low_credit=account.low_credit,
        days_left=rules.days_left(balance, limit, history),
        supply=account.supply,
        last_update=last_update,
        last_closed_day=account.last_closed_day,
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
