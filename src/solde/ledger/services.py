"""Posting to the ledger. Helpers here never commit: callers own the transaction."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction

from solde import clock
from solde.bulk import copy_rows, next_ids, pg_array
from solde.ledger.models import (
    BALANCE_ON_READ_KINDS,
    AccountKind,
    Entry,
    LedgerAccount,
    Transaction,
)

_COPY_FROM = 500  # postings from which rows go by COPY (executemany on SQLite), not INSERT


class UnbalancedTransaction(ValueError):
    pass


@dataclass
class Posting:
    """A transaction to post: entries are (ledger account id, signed cents), summing to zero."""

    key: str
    kind: str
    entries: Sequence[tuple[int, int]]
    at: datetime | None = None
    day: date | None = None
    supply_point_id: int | None = None
    reference: str = ""
    details: dict = field(default_factory=dict)


def account(code: str, kind: str) -> LedgerAccount:
    """The platform-wide account with this code, created on first use."""
    obj, _ = LedgerAccount.objects.get_or_create(code=code, defaults={"kind": kind})
    return obj


def collections_account(channel: str) -> LedgerAccount:
    return account(f"collections:{channel}", AccountKind.COLLECTIONS)


def post(posting: Posting) -> tuple[Transaction, bool]:
    """Post one transaction; the same key again returns the first one and `False`."""
    existing = Transaction.objects.filter(idempotency_key=posting.key).first()
    if existing:
        return existing, False
    post_many([posting])
    return Transaction.objects.get(idempotency_key=posting.key), True


def post_many(postings: Iterable[Posting], updated_at: datetime | None = None) -> int:
    """Post many transactions set-based; keys already posted are skipped. Returns the count.

    Must run inside the caller's atomic block (one service, one transaction).
    """
    postings = list(postings)
    if not postings:
        return 0
    for p in postings:
        if sum(c for _, c in p.entries) != 0:
            raise UnbalancedTransaction(f"Transaction {p.key} does not sum to zero.")
    keys = [p.key for p in postings]
    known: set[str] = set()
    for i in range(0, len(keys), 5000):
        known.update(
            Transaction.objects.filter(idempotency_key__any_of=keys[i : i + 5000]).values_list(
                "idempotency_key", flat=True
            )
        )
    todo = []
    for p in postings:  # the first posting of a key wins, also within one batch
        if p.key not in known:
            known.add(p.key)
            todo.append(p)
    if not todo:
        return 0
    now = clock.now()
    if len(todo) >= _COPY_FROM:
        # Large batches (the daily close): ids reserved first, then COPY / executemany.
        tx_ids = next_ids(Transaction, len(todo))
        copy_rows(
            Transaction,
            [
                "id",
                "idempotency_key",
                "kind",
                "at",
                "day",
                "supply_point_id",
                "reference",
                "details",
            ],
            (
                (
                    i,
                    p.key,
                    p.kind,
                    p.at or now,
                    p.day,
                    p.supply_point_id,
                    p.reference,
                    json.dumps(p.details),
                )
                for i, p in zip(tx_ids, todo, strict=True)
            ),
        )
    else:
        txs = Transaction.objects.bulk_create(
            [
                Transaction(
                    idempotency_key=p.key,
                    kind=p.kind,
                    at=p.at or now,
                    day=p.day,
                    supply_point_id=p.supply_point_id,
                    reference=p.reference,
                    details=p.details,
                )
                for p in todo
            ],
            batch_size=5000,
        )
        tx_ids = [tx.pk for tx in txs]
    deltas: dict[int, int] = defaultdict(int)
    entries: list[tuple[int, int, int]] = []
    for tx_id, p in zip(tx_ids, todo, strict=True):
        for account_id, cents in p.entries:
            if cents:
                entries.append((tx_id, account_id, cents))
                deltas[account_id] += cents
    if len(todo) >= _COPY_FROM:
        copy_rows(Entry, ["transaction_id", "account_id", "amount_cents"], entries)
    else:
        Entry.objects.bulk_create(
            [Entry(transaction_id=t, account_id=a, amount_cents=c) for t, a, c in entries],
            batch_size=5000,
        )
    apply_balance_deltas(deltas, updated_at or now)
    return len(todo)


# One two-entry transaction: (idempotency key, kind, supply point id or None, reference,
# details as JSON text, debited account, credited account, cents > 0).
Transfer = tuple[str, str, int | None, str, str, int, int, int]


def post_transfers(
    transfers: Sequence[Transfer], *, at: datetime, day: date | None, hold: Iterable[int] = ()
) -> tuple[dict[int, int], dict[int, int]]:
    """Post many two-entry transactions (debit −cents, credit +cents) set-based; keys already
    posted are skipped, keys must differ within the batch. Returns (the new stored balance of
    every account updated, the deltas of the `hold` accounts), inside the caller's transaction.

    The accounts in `hold` (platform-wide ones that every batch credits, e.g. energy sales) are
    not updated here: the caller applies their deltas with `apply_balance_deltas` just before
    its commit, so parallel batches hold their row lock for an instant, not the whole batch.

    PostgreSQL: one COPY of the transfers into a temporary table, where each gets its transaction
    id from the sequence, and one statement that writes the transactions (ON CONFLICT on the
    key: a skipped one leaves a gap in the ids), their entries (joined back on the id, not on the
    key text) and the balances. Elsewhere: as `post_many`."""
    if not transfers:
        return {}, {}
    held = set(hold)
    if len({t[0] for t in transfers}) != len(transfers):
        raise ValueError("post_transfers: the same idempotency key twice in one batch")
    if connection.vendor != "postgresql":
        return _post_transfers_portable(transfers, at, day, held)
    table = Transaction._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cur.fetchone()[0]
        # Dropped at the commit; a caller's outer transaction may post twice (savepoints).
        cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS ledger_transfer_stage (key text, kind text, "
            "supply_point_id bigint, reference text, details text, debit bigint, "
            f"credit bigint, cents bigint, id bigint DEFAULT nextval('{sequence}'::regclass)) "
            "ON COMMIT DROP"
        )
        cur.execute("TRUNCATE ledger_transfer_stage")
        with cur.copy(
            "COPY ledger_transfer_stage (key, kind, supply_point_id, reference, details, debit, "
            "credit, cents) FROM STDIN"
        ) as copy:
            for row in transfers:
                copy.write_row(row)
        cur.execute(
            _transfer_sql("ledger_transfer_stage s"),
            {
                "at": at,
                "updated_at": at,
                "day": day,
                "on_read": sorted(BALANCE_ON_READ_KINDS),
                "held": pg_array(held)[0] if held else "{}",
            },
        )
        balances: dict[int, int] = {}
        deltas: dict[int, int] = {}
        for account_id, value, is_held in cur.fetchall():
            (deltas if is_held else balances)[account_id] = value
    return balances, deltas


def _transfer_sql(source: str, single: bool = False) -> str:
    """The statement that posts the transfers of `source` (rows key, kind, supply_point_id,
    reference, details, debit, credit, cents, aliased `s`): the transactions (ON CONFLICT on the
    key: a key already posted is skipped), their entries and the stored balances, in one round
    trip. Returns (account id, new balance or held delta, held?) rows.

    A batch's staging rows carry an `id` reserved from the sequence: the transactions take it
    and the entries join back on it, not on the key text. `single` (one row given inline): the
    sequence gives the id and the entries join on the key; a 4th column, NULL but in one more
    row (NULL, NULL, false, the new transaction's id)."""
    tail = ", NULL::bigint" if single else ""
    id_column, id_value = ("", "") if single else ("id, ", "s.id, ")
    joined = "s.key = tx.idempotency_key" if single else "s.id = tx.id"
    return f"""
        WITH tx AS (
            INSERT INTO {Transaction._meta.db_table}
                ({id_column}idempotency_key, kind, at, day, supply_point_id, reference, details)
            SELECT {id_value}s.key, s.kind, %(at)s, %(day)s, s.supply_point_id, s.reference,
                   s.details::jsonb
            FROM {source}
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, idempotency_key),
        en AS (
            INSERT INTO {Entry._meta.db_table} (transaction_id, account_id, amount_cents)
            SELECT tx.id, e.account_id, e.cents
            FROM tx JOIN {source} ON {joined}
            CROSS JOIN LATERAL (VALUES (s.debit, -s.cents), (s.credit, s.cents))
                AS e(account_id, cents)
            RETURNING account_id, amount_cents),
        d AS (
            SELECT account_id, SUM(amount_cents)::bigint AS delta FROM en
            GROUP BY account_id),
        bal AS (
            UPDATE {LedgerAccount._meta.db_table} a
            SET balance_cents = a.balance_cents + d.delta, updated_at = %(updated_at)s
            FROM d
            WHERE a.id = d.account_id AND a.kind <> ALL(%(on_read)s)
                  AND a.id <> ALL(%(held)s::bigint[])
            RETURNING a.id, a.balance_cents)
        SELECT id, balance_cents, false{tail} FROM bal
        UNION ALL
        SELECT account_id, delta, true{tail} FROM d WHERE account_id = ANY(%(held)s::bigint[])
        {"UNION ALL SELECT NULL, NULL, false, id FROM tx" if single else ""}
        """


def post_transfer(
    transfer: Transfer, *, at: datetime, updated_at: datetime | None = None
) -> tuple[int | None, dict[int, int]]:
    """Post ONE two-entry transaction, as `post_transfers` posts many (the same statement, its
    row given inline: no staging table). Returns (the new transaction's id, or None when the key
    was posted already; the new stored balance of each account updated). PostgreSQL: one round
    trip, and the key's unique index is the idempotency check: a twin committing the same key
    meanwhile makes this one a no-op, never an error. `updated_at`: the balances' stamp (the
    transaction's instant `at` by default)."""
    updated_at = updated_at or at
    key, kind, sp, reference, details, debit, credit, cents = transfer
    if connection.vendor != "postgresql":
        posting = Posting(key, kind, [(debit, -cents), (credit, cents)], at, None, sp, reference)
        posting.details = json.loads(details)
        if not post_many([posting], updated_at=updated_at):
            return None, {}
        stored = dict(
            LedgerAccount.objects.filter(pk__in=[debit, credit])
            .exclude(kind__in=BALANCE_ON_READ_KINDS)
            .values_list("pk", "balance_cents")
        )
        return Transaction.objects.values_list("pk", flat=True).get(idempotency_key=key), stored
    source = (
        "(SELECT %(key)s::text AS key, %(kind)s::text AS kind, "
        "%(sp)s::bigint AS supply_point_id, %(reference)s::text AS reference, "
        "%(details)s::text AS details, %(debit)s::bigint AS debit, "
        "%(credit)s::bigint AS credit, %(cents)s::bigint AS cents) s"
    )
    with connection.cursor() as cur:
        cur.execute(
            _transfer_sql(source, single=True),
            {
                "key": key,
                "kind": kind,
                "sp": sp,
                "reference": reference,
                "details": details,
                "debit": debit,
                "credit": credit,
                "cents": cents,
                "at": at,
                "updated_at": updated_at,
                "day": None,
                "on_read": sorted(BALANCE_ON_READ_KINDS),
                "held": "{}",
            },
        )
        rows = cur.fetchall()
    tx_id = next((tx for _, _, _, tx in rows if tx is not None), None)
    return tx_id, {a: value for a, value, _, tx in rows if tx is None}


def _post_transfers_portable(
    transfers: Sequence[Transfer], at: datetime, day: date | None, held: set[int]
) -> tuple[dict[int, int], dict[int, int]]:
    keys = [t[0] for t in transfers]
    known: set[str] = set()
    for i in range(0, len(keys), 5000):
        known.update(
            Transaction.objects.filter(idempotency_key__any_of=keys[i : i + 5000]).values_list(
                "idempotency_key", flat=True
            )
        )
    todo = [t for t in transfers if t[0] not in known]
    if not todo:
        return {}, {}
    tx_ids = next_ids(Transaction, len(todo))
    copy_rows(
        Transaction,
        ["id", "idempotency_key", "kind", "at", "day", "supply_point_id", "reference", "details"],
        (
            (i, key, kind, at, day, sp, reference, details)
            for i, (key, kind, sp, reference, details, _, _, _) in zip(tx_ids, todo, strict=True)
        ),
    )
    deltas: dict[int, int] = defaultdict(int)
    entries: list[tuple[int, int, int]] = []
    for tx_id, (_, _, _, _, _, debit, credit, cents) in zip(tx_ids, todo, strict=True):
        entries += [(tx_id, debit, -cents), (tx_id, credit, cents)]
        deltas[debit] -= cents
        deltas[credit] += cents
    copy_rows(Entry, ["transaction_id", "account_id", "amount_cents"], entries)
    apply_balance_deltas({a: d for a, d in deltas.items() if a not in held}, at)
    stored = balances(a for a in deltas if a not in held)
    return stored, {a: d for a, d in deltas.items() if a in held}


def apply_balance_deltas(deltas: dict[int, int], at: datetime) -> None:
    """Add each delta to its account's stored balance in a few set-based statements.

    Accounts whose balance is computed on read (BALANCE_ON_READ_KINDS) are left alone: the
    statement neither writes nor locks their row, so concurrent top-ups do not queue on it.
    """
    items = [(a, d) for a, d in deltas.items() if d]
    if not items:
        return
    table = LedgerAccount._meta.db_table
    on_read = sorted(BALANCE_ON_READ_KINDS)
    skip = ",".join(["%s"] * len(on_read))
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"UPDATE {table} SET balance_cents = {table}.balance_cents + v.d, "
                f"updated_at = %s FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, d) "
                f"WHERE {table}.id = v.id AND {table}.kind NOT IN ({skip})",
                [
                    at,
                    pg_array([a for a, _ in items])[0],
                    pg_array([d for _, d in items])[0],
                    *on_read,
                ],
            )
            return
        for i in range(0, len(items), 2000):
            chunk = items[i : i + 2000]
            values = ",".join(["(%s, %s)"] * len(chunk))
            params: list[Any] = [x for pair in chunk for x in pair]
            cur.execute(
                f"WITH v(id, d) AS (VALUES {values}) "
                f"UPDATE {table} SET balance_cents = {table}.balance_cents + v.d, "
                f"updated_at = %s FROM v WHERE {table}.id = v.id "
                f"AND {table}.kind NOT IN ({skip})",
                [*params, at, *on_read],
            )


def balances(account_ids: Iterable[int]) -> dict[int, int]:
    """The balance of each account: stored, or the sum of its entries for the kinds computed
    on read (BALANCE_ON_READ_KINDS). Two queries at most."""
    from django.db.models import Sum

    ids = list(account_ids)
    rows = list(LedgerAccount.objects.filter(pk__in=ids).values_list("pk", "kind", "balance_cents"))
    out = {pk: stored for pk, kind, stored in rows if kind not in BALANCE_ON_READ_KINDS}
    on_read = [pk for pk, kind, _ in rows if kind in BALANCE_ON_READ_KINDS]
    if on_read:
        sums = dict(
            Entry.objects.filter(account_id__in=on_read)
            .values("account_id")
            .annotate(total=Sum("amount_cents"))
            .values_list("account_id", "total")
        )
        out.update({pk: sums.get(pk) or 0 for pk in on_read})
    return out


def balance_of(acc: LedgerAccount) -> int:
    """One account's balance (see `balances`)."""
    return balances([acc.pk])[acc.pk]


@dataclass
class VerifyReport:
    transactions: int
    unbalanced: list[str]
    wrong_balances: list[tuple[str, int, int]]  # (account code, stored, sum of entries)

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not self.wrong_balances


@contextmanager
def read_snapshot() -> Iterator[None]:
    """Every query inside sees one consistent state of the database, without blocking writers.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction (one snapshot for all statements).
    SQLite: one deferred read transaction (in WAL mode a snapshot; no write lock is taken,
    whereas Django's atomic() would BEGIN IMMEDIATE). Inside a caller's transaction, the
    caller's snapshot stands."""
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    with connection.cursor() as cur:
        cur.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("COMMIT")


def verify() -> VerifyReport:
    """Check that every transaction sums to zero and every stored balance is its entries' sum
    (balances computed on read are checked to be stored as 0). All from one snapshot, so
    top-ups and closes committing meanwhile never show as a discrepancy."""
    from django.db.models import Count, Sum

    with read_snapshot():
        unbalanced = list(
            Transaction.objects.annotate(total=Sum("entries__amount_cents"), n=Count("entries"))
            .exclude(total=0)
            .values_list("idempotency_key", flat=True)[:1000]
        )
        sums = dict(
            Entry.objects.values("account_id")
            .annotate(total=Sum("amount_cents"))
            .values_list("account_id", "total")
        )
        # A stored balance must be its entries' sum; one computed on read must never have
        # been written (0), or something updates it behind the ledger's back.
        wrong = [
            (code, stored, expected)
            for pk, code, kind, stored in LedgerAccount.objects.values_list(
                "pk", "code", "kind", "balance_cents"
            )
            if stored != (expected := 0 if kind in BALANCE_ON_READ_KINDS else sums.get(pk, 0))
        ]
        return VerifyReport(Transaction.objects.count(), unbalanced, wrong[:1000])
