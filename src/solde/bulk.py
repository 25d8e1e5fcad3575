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
        adapt = connection.ops.adapt_datetimefield_value
        batch: list[Sequence] = []
        for row in rows:
            batch.append(
                [adapt(v) if hasattr(v, "tzinfo") and hasattr(v, "hour") else v for v in row]
            )
            if len(batch) >= 10_000:
                cur.executemany(sql, batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)


def _adapt(value: object) -> object:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def next_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` primary keys from the table's sequence (PostgreSQL)."""
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [r[0] for r in cur.fetchall()]


class AnyOf(Lookup):
    """`field__any_of=[…]`: IN for many values as ONE array parameter on PostgreSQL
    (`= ANY(%s)`), so a bulk path does not build and parse thousands of placeholders."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):  # type: ignore[no-untyped-def]
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


# Plain fields and foreign keys (whose lookups are registered apart).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
