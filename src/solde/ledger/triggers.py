"""The ledger's append-only guard on SQLite, and lifting it for maintenance.

On PostgreSQL, django-pgtrigger installs `append_only` (models.APPEND_ONLY) on both tables:
UPDATE and DELETE raise, TRUNCATE (table-wide maintenance, which the test suite's flush uses)
is not a row operation and passes. SQLite has no statement triggers and Django's flush DELETEs
every row, so its triggers below refuse UPDATE and DELETE always; `suspended()` drops them for
one maintenance step and puts them back (the test suite wraps Django's SQLite flush with it,
tests/conftest.py; a test plants a corruption with it). See docs/decisions/0003.

The SQL is what migration 0003 installed: change it only with a new migration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

TABLES = ("ledger_transaction", "ledger_entry")


def _name(table: str, op: str) -> str:
    return f"{table}_append_only_{op.lower()}"


def sqlite_create() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {_name(table, op)} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for table in TABLES
        for op in ("UPDATE", "DELETE")
    ]


def sqlite_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {_name(table, op)}"
        for table in TABLES
        for op in ("UPDATE", "DELETE")
    ]


@contextmanager
def suspended(using: str = "default") -> Iterator[None]:
    """Lift the append-only guard for a maintenance step on this connection (never in the
    application's code paths: corrections are reversals, see ledger.services)."""
    conn = connections[using]
    if conn.vendor == "postgresql":
        import pgtrigger

        with pgtrigger.ignore("ledger.Transaction:append_only", "ledger.Entry:append_only"):
            yield
        return
    with conn.cursor() as cur:
        for sql in sqlite_drop():
            cur.execute(sql)
    try:
        yield
    finally:
        with conn.cursor() as cur:
            for sql in sqlite_create():
                cur.execute(sql)
