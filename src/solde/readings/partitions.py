"""The readings table's monthly partitions on PostgreSQL.

`readings_reading` is partitioned by RANGE on `at`: one partition per local (Europe/Brussels)
calendar month — a local day never straddles two — named `readings_reading_y2026m11`, the
months contiguous, and two catch-alls around them: `readings_reading_before` (MINVALUE to the
first month) and `readings_reading_after` (the end of the last month to MAXVALUE). So every
instant has a partition and a write never fails for want of one.

Not a DEFAULT partition: with one, PostgreSQL can no longer scan the partitions in order, and
the close's "nearest reading before this midnight" (`ORDER BY at DESC LIMIT 1`) probes every
month's index instead of one (docs/decisions/0009). Two bounded catch-alls keep the ranges
ordered.

The scheduled job `readings.partitions` extends the months to this month and
`SOLDE_READINGS_PARTITIONS_AHEAD` months ahead, and down or up to any rows waiting in a
catch-all: the catch-all is detached, the months created, a new catch-all made with the new
bound, and the waiting rows moved into their month — one transaction. SQLite keeps one plain
table; every function here is then a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from solde import clock

TABLE = "readings_reading"
BEFORE = f"{TABLE}_before"
AFTER = f"{TABLE}_after"
COLUMNS = "id, meter_id, register, at, value_milli"
BRUSSELS = ZoneInfo("Europe/Brussels")
# Changing partitions takes an exclusive lock on the readings table: wait this long behind an
# ingestion batch at most, then fail (the job is retried) rather than queue every reader.
LOCK_TIMEOUT = "10s"


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    k = month.year * 12 + month.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """UTC instants of local midnight on the month's 1st and on the next month's 1st."""

    def start(m: date) -> datetime:
        return datetime(m.year, m.month, 1, tzinfo=BRUSSELS).astimezone(UTC)

    return start(month), start(add_months(month, 1))


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def _literal(instant: datetime) -> str:
    # DDL takes no parameters: the bounds are instants this module computed.
    return f"'{instant.isoformat()}'"


def partitioned() -> bool:
    """Is the readings table a partitioned table (PostgreSQL after migration readings 0004)?"""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cur.fetchone()
    return bool(row and row[0] == "p")


@dataclass(frozen=True)
class Partition:
    name: str
    month: date | None  # None: a catch-all (`before`, `after`)
    bytes: int  # table + index + TOAST


def partitions() -> list[Partition]:
    """The catch-all before, the months in order, the catch-all after."""
    if not partitioned():
        return []
    with connection.cursor() as cur:
        cur.execute(
            """SELECT c.relname, pg_total_relation_size(c.oid)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = to_regclass(%s)""",
            [TABLE],
        )
        rows = cur.fetchall()
    # A partition dropped by another process while this reads the catalogue has no size (NULL).
    out = [Partition(name, _month_of(name), int(size or 0)) for name, size in rows]
    order = {BEFORE: 0, AFTER: 2}
    return sorted(out, key=lambda p: (order.get(p.name, 1), p.month or date.min))


def months() -> list[date]:
    return [p.month for p in partitions() if p.month is not None]


def _month_of(name: str) -> date | None:
    prefix = f"{TABLE}_y"
    if not name.startswith(prefix) or len(name) != len(prefix) + 7:
        return None
    year, month = name[len(prefix) : len(prefix) + 4], name[-2:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return date(int(year), int(month), 1)


def waiting_months(catch_all: str) -> list[date]:
    """The local months of the rows waiting in a catch-all partition."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'Europe/Brussels')::date "
            f"FROM {catch_all}"
        )
        return sorted(row[0] for row in cur.fetchall())


@dataclass(frozen=True)
class Maintained:
    created: list[date]
    moved: int  # rows moved out of a catch-all into their month


def ensure(first: date, last: date) -> Maintained:
    """Every month from `first` to `last` has its partition, and the months stay contiguous
    (a bulk load calls this before writing a known range, so its rows never wait in a
    catch-all). One transaction; idempotent."""
    if not partitioned():
        return Maintained([], 0)
    first, last = month_start(first), month_start(last)
    with transaction.atomic(), connection.cursor() as cur:
        have = months()
        lowest, highest = (have[0], have[-1]) if have else (first, add_months(first, -1))
        low, high = min(first, lowest), max(last, highest)
        wanted, month = [], low
        while month <= high:
            if month not in have:
                wanted.append(month)
            month = add_months(month, 1)
        if not wanted:
            return Maintained([], 0)
        cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cur.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        # Under the lock: another process may have extended them meanwhile.
        if months() != have:
            return ensure(first, last)
        detached = []
        if low < lowest or not have:
            detached.append(_detach(cur, BEFORE))
        if high > highest or not have:
            detached.append(_detach(cur, AFTER))
        for month in wanted:
            lo, hi = month_bounds(month)
            cur.execute(
                f"CREATE TABLE {partition_name(month)} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ({_literal(lo)}) TO ({_literal(hi)})"
            )
        if low < lowest or not have:
            cur.execute(
                f"CREATE TABLE {BEFORE} PARTITION OF {TABLE} "
                f"FOR VALUES FROM (MINVALUE) TO ({_literal(month_bounds(low)[0])})"
            )
        if high > highest or not have:
            cur.execute(
                f"CREATE TABLE {AFTER} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ({_literal(month_bounds(high)[1])}) TO (MAXVALUE)"
            )
        moved = 0
        for old in detached:
            if old is None:
                continue
            # Routed again through the parent: each row goes to its month (or a catch-all).
            cur.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {old}")
            moved += cur.rowcount
            cur.execute(f"DROP TABLE {old}")
    return Maintained(wanted, moved)


def _detach(cur, name: str) -> str | None:
    """Detach a catch-all and rename it aside; its rows are moved back after."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if not cur.fetchone()[0]:
        return None
    cur.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
    cur.execute(f"ALTER TABLE {name} RENAME TO {name}_moving")
    return f"{name}_moving"


def maintain(today: date | None = None) -> Maintained:
    """This month and `SOLDE_READINGS_PARTITIONS_AHEAD` months ahead, and the months of any
    rows waiting in a catch-all. Idempotent."""
    if not partitioned():
        return Maintained([], 0)
    this_month = month_start(today or clock.today())
    first = min([this_month, *waiting_months(BEFORE)])
    last = max([add_months(this_month, settings.READINGS_PARTITIONS_AHEAD), *waiting_months(AFTER)])
    return ensure(first, last)


def replace_before(cur, upper: date) -> None:
    """Drop the catch-all before the months (its rows with it) and make it anew up to `upper`:
    retention, once the oldest months are dropped, so no instant is left without a partition."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [BEFORE])
    if cur.fetchone()[0]:
        cur.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {BEFORE}")
        cur.execute(f"DROP TABLE {BEFORE}")
    cur.execute(
        f"CREATE TABLE {BEFORE} PARTITION OF {TABLE} "
        f"FOR VALUES FROM (MINVALUE) TO ({_literal(month_bounds(upper)[0])})"
    )


COMPACTED = "solde: index compacted"


def compact(month: date) -> bool:
    """Rebuild a past month's index, once. Day after day each meter register's new readings go
    into the middle of the (meter, register, at) index, so its pages split half-full: about
    twice the bytes a packed index needs (BENCHMARKS.md, readings storage). Once the month is
    over, a rebuild packs it. CONCURRENTLY when not inside a transaction (writes go on);
    marked by a comment on the partition so it is done once. Returns whether it rebuilt."""
    if not partitioned():
        return False
    name = partition_name(month)
    with connection.cursor() as cur:
        cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", [name])
        row = cur.fetchone()
        if row is None or row[0] == COMPACTED:
            return False
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if not cur.fetchone()[0]:
            return False
        concurrently = "" if connection.in_atomic_block else " CONCURRENTLY"
        cur.execute(f"REINDEX TABLE{concurrently} {name}")
        cur.execute(f"COMMENT ON TABLE {name} IS '{COMPACTED}'")
    return True
