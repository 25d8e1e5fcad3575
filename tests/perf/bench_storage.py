"""Readings storage: bytes per reading on PostgreSQL from a measured month, and the projection.

A fresh database `solde_bench_storage`, migrated (the readings table partitioned by month). One
month (30 days) of quarter-hourly indexes for 2,000 electricity meters × 2 offtake registers
(11.52 M rows) goes in day by day, each day one `COPY` into the readings table (as ingestion
writes: through the parent, rows of a day sorted by meter, register, instant), then VACUUM
ANALYZE. Bytes per reading = `pg_total_relation_size` of the month's partition (table + its one
index, the unique (meter, register, at)) / rows.

Measured in the same run, the same days into two other tables:
- the alternative layout: the same partitioned table with a primary key (id, at) besides the
  unique key — what the readings would cost with a primary-key index (decision 0009);
- the baseline: a bare COPY into an unindexed, unpartitioned table of the four columns.

`python -m tests.perf.bench_storage METERS DAYS` runs the measuring part alone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.perf.fixtures import run_on_fresh_database

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "solde_bench_storage"
METERS = 2_000
DAYS = 30
REGISTERS = ("1.8.1", "1.8.2")
MONTH = date(2026, 9, 1)  # 30 days, no DST switch
BRUSSELS = ZoneInfo("Europe/Brussels")
YEAR_QUARTERS = 96 * 365.25


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    meters = max(20, int(METERS * scale))
    r = run_on_fresh_database(
        pg_url, DB_NAME, "tests.perf.bench_storage", str(meters), str(DAYS), SOLDE_SIMULATION="0"
    )
    return section(r, scale)


def _gb(n: float) -> str:
    return f"{n / 1e12:,.2f} TB" if n >= 1e12 else f"{n / 1e9:,.1f} GB"


def section(r: dict, scale: float) -> str:
    chosen, alt, bare, packed = r["chosen"], r["alt"], r["bare"], r["compacted"]
    bpr = chosen["total"] / r["rows"]
    packed_bpr = packed["total"] / r["rows"]
    alt_bpr = alt["total"] / r["rows"]
    bare_bpr = bare["total"] / r["rows"]
    rows_3y = {n: n * len(REGISTERS) * YEAR_QUARTERS * 3 for n in (100_000, 1_000_000)}
    month_rows = {n: n * len(REGISTERS) * 96 * 30.44 for n in (100_000, 1_000_000)}
    lines = [
        "## Readings storage: bytes per reading and three years' projection",
        "",
        f"A measured month on PostgreSQL (database `{DB_NAME}`, migrated): {r['meters']:,} "
        f"electricity meters × 2 offtake registers × 96 quarter-hours × {r['days']} days = "
        f"{r['rows']:,} index rows, loaded day by day with one `COPY` per day through the "
        "partitioned readings table (rows of a day sorted by meter, register, instant, as "
        "ingestion writes them), then VACUUM ANALYZE. Sizes are `pg_total_relation_size` of the "
        "month's partition. Same run, same days: the alternative with a primary key (id, at) "
        "and the baseline, a bare COPY into an unindexed plain table. Then the partition's "
        "index rebuilt as the `readings.partitions` job does once a month is over "
        "(`partitions.compact`, REINDEX CONCURRENTLY). The issue sets no byte target: the "
        "figures are for the projection, the baseline is the bare table.",
        "",
        "| layout | heap bytes/row | index bytes/row | total bytes/row | COPY s (all days) "
        "| µs/row | × bare COPY |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in (
        ("**chosen**: partitioned, unique (meter, register, at) only", chosen),
        ("alternative: + primary key (id, at)", alt),
        ("baseline: bare table, no index", bare),
    ):
        lines.append(
            f"| {name} | {m['heap'] / r['rows']:.1f} | {m['indexes'] / r['rows']:.1f} | "
            f"{m['total'] / r['rows']:.1f} | {m['copy_s']:.1f} | "
            f"{m['copy_s'] * 1e6 / r['rows']:.2f} | {m['copy_s'] / bare['copy_s']:.2f} |"
        )
    lines.append(
        f"| **chosen, month over**: index rebuilt ({packed['seconds']:.1f} s) | "
        f"{packed['heap'] / r['rows']:.1f} | {packed['indexes'] / r['rows']:.1f} | "
        f"{packed_bpr:.1f} | | | |"
    )
    lines += [
        "",
        "Day after day each meter register's new readings go into the middle of the unique "
        "index, whose pages then split half-full; the rebuild once the month is over packs "
        f"it ({chosen['indexes'] / r['rows']:.1f} → {packed['indexes'] / r['rows']:.1f} index "
        "bytes a reading).",
        "",
        f"The primary-key index would add {alt_bpr - bpr:.1f} bytes a reading "
        f"({(alt_bpr / bpr - 1) * 100:.0f} %) and "
        f"{(alt['copy_s'] / chosen['copy_s'] - 1) * 100:.0f} % to the COPY time; the bare "
        f"table is {bare_bpr:.1f} bytes a reading.",
        "",
        "Projection at the measured bytes per reading (quarter-hourly, 2 offtake registers, "
        "365.25 days a year; the current month as written, the others rebuilt; DailyIndex and "
        "DayCharge not included — a few rows per day per meter):",
        "",
        "| electricity meters | rows per month | this month's partition (as written) | a "
        "past month's (rebuilt) | rows in 3 years | 3 years (table + index) |",
        "|---|---|---|---|---|---|",
    ]
    for n in (100_000, 1_000_000):
        three_years = month_rows[n] * bpr + (rows_3y[n] - month_rows[n]) * packed_bpr
        lines.append(
            f"| {n:,} | {month_rows[n] / 1e6:,.0f} M | {_gb(month_rows[n] * bpr)} | "
            f"{_gb(month_rows[n] * packed_bpr)} | {rows_3y[n] / 1e9:,.1f} G | "
            f"{_gb(three_years)} |"
        )
    lines += [
        "",
        f"Load average (1 min) when the run ended: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores.",
    ]
    if scale != 1:
        lines += ["", f"At scale {scale}: not the target size."]
    return "\n".join(lines)


# --- In the subprocess ----------------------------------------------------------------------


def _day_copy(meters: int, day: date, start_values: list[int]) -> bytes:
    """COPY text rows of one day: meter, register, instant, cumulative index (Wh)."""
    start = datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).astimezone(UTC)
    stamps = [(start + timedelta(minutes=15 * q)).isoformat() for q in range(96)]
    out = []
    for m in range(meters):
        for r, register in enumerate(REGISTERS):
            k = m * 2 + r
            value = start_values[k]
            step = 30 + (m * 7 + r * 13) % 90  # Wh a quarter-hour: 120 W to 480 W
            for q in range(96):
                value += step + (q * 31 + m) % 17
                out.append(f"{m + 1}\t{register}\t{stamps[q]}\t{value}\n")
            start_values[k] = value
    return "".join(out).encode()


def main(meters: int, days: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from solde.readings import partitions

    call_command("migrate", verbosity=0)
    partitions.ensure(MONTH, MONTH)
    part = partitions.partition_name(MONTH)
    lo, hi = partitions.month_bounds(MONTH)
    connection.ensure_connection()
    raw = connection.connection  # psycopg, in autocommit: each COPY is its own transaction
    with connection.cursor() as cur:
        cur.execute(
            """CREATE TABLE bench_alt (
                   id bigint GENERATED BY DEFAULT AS IDENTITY,
                   meter_id bigint NOT NULL, register varchar(10) NOT NULL,
                   at timestamp with time zone NOT NULL, value_milli bigint NOT NULL,
                   PRIMARY KEY (id, at), UNIQUE (meter_id, register, at)
               ) PARTITION BY RANGE (at)"""
        )
        cur.execute(
            f"CREATE TABLE bench_alt_m PARTITION OF bench_alt "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        )
        cur.execute(
            """CREATE TABLE bench_bare (meter_id bigint NOT NULL, register varchar(10) NOT NULL,
                   at timestamp with time zone NOT NULL, value_milli bigint NOT NULL)"""
        )
    targets = {"chosen": "readings_reading", "alt": "bench_alt", "bare": "bench_bare"}
    copy_s = dict.fromkeys(targets, 0.0)
    values = [1_000_000 + 997 * k for k in range(meters * 2)]
    rows = 0
    for d in range(days):
        data = _day_copy(meters, MONTH + timedelta(days=d), values)
        rows += meters * 2 * 96
        for name, table in targets.items():
            with raw.cursor() as cur:
                t = time.perf_counter()
                with cur.copy(
                    f"COPY {table} (meter_id, register, at, value_milli) FROM STDIN"
                ) as copy:
                    copy.write(data)
                copy_s[name] += time.perf_counter() - t
    sizes = {}
    with raw.cursor() as cur:
        for name, table in (("chosen", part), ("alt", "bench_alt_m"), ("bare", "bench_bare")):
            cur.execute(f"VACUUM ANALYZE {table}")
            cur.execute(
                "SELECT pg_total_relation_size(%s::regclass), pg_relation_size(%s::regclass), "
                "pg_indexes_size(%s::regclass), (SELECT count(*) FROM " + table + ")",
                [table, table, table],
            )
            total, heap, indexes, n = cur.fetchone()
            assert n == rows, (table, n, rows)
            sizes[name] = {"total": total, "heap": heap, "indexes": indexes, "copy_s": copy_s[name]}
        cur.execute(f"SELECT count(*) FROM {partitions.BEFORE}")
        assert cur.fetchone()[0] == 0  # every row went into its month's partition
    # What the partitions job does once the month is over: its index rebuilt, packed.
    t = time.perf_counter()
    assert partitions.compact(MONTH)
    seconds = time.perf_counter() - t
    with raw.cursor() as cur:
        cur.execute(
            "SELECT pg_total_relation_size(%s::regclass), pg_relation_size(%s::regclass), "
            "pg_indexes_size(%s::regclass)",
            [part, part, part],
        )
        total, heap, indexes = cur.fetchone()
    sizes["compacted"] = {"total": total, "heap": heap, "indexes": indexes, "seconds": seconds}
    print(json.dumps({"meters": meters, "days": days, "rows": rows, **sizes}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
