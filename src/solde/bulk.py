"""Fast bulk writes: COPY on PostgreSQL, executemany elsewhere (set-based paths only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.db import connection, models
from django.db.models import Field, ForeignObject, Lookup


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Append rows to the model's table inside the caller's transaction."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        ops = connection.ops
        adapted: dict[object, object] = {}  # rows repeat the same instants and days

        def adapt(value: object) -> object:
            if not isinstance(value, date):
                return value
            if value not in adapted:
                adapted[value] = (
                    ops.adapt_datetimefield_value(value)
                    if isinstance(value, datetime)
                    else ops.adapt_datefield_value(value)
                )
            return adapted[value]

        batch: list[Sequence] = []
        for row in rows:
            batch.append([adapt(v) for v in row])
            if len(batch) >= 10_000:
                cur.executemany(sql, batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)


def next_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` primary keys for rows the caller inserts in its transaction.

    PostgreSQL: from the table's sequence. SQLite: after the highest id ever given (the
    AUTOINCREMENT counter) — safe because SQLite has one writer at a time and the caller holds
    the write lock (IMMEDIATE transactions)."""
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [r[0] for r in cur.fetchall()]
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
        top = cur.fetchone()[0]
        cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cur.fetchone()
        start = max(top, row[0] if row else 0) + 1
        return list(range(start, start + count))


def pg_array(values: Iterable[object]) -> tuple[str, str]:
    """A PostgreSQL array literal and its element type, for integers or strings.

    Sent as ONE text parameter: quoting a long Python list element by element on the client
    costs more than the query it feeds."""
    values = list(values)
    if all(isinstance(v, int) for v in values):
        return "{" + ",".join(map(str, values)) + "}", "bigint"
    quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}", "text"


class AnyOf(Lookup):
    """`field__any_of=[…]`: IN for many values as ONE array parameter on PostgreSQL
    (`= ANY(%s)`), so a bulk path does not build and parse thousands of placeholders."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):  # type: ignore[no-untyped-def]
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            literal, sql_type = pg_array(values)
            return f"{lhs} = ANY(%s::{sql_type}[])", [*lhs_params, literal]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


# Plain fields and foreign keys (whose lookups are registered apart).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
