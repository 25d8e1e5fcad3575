"""Midnight (and any-instant) indexes, set-based.

For many (meter, register, instant) probes at once, the nearest reading at-or-before and
at-or-after each instant, found in one SQL statement per batch through the (meter, register, at)
unique index. Values stay exact integers (thousandths); `index_at` interpolates with Fractions.

On PostgreSQL a reading that falls on the instant itself is the answer: the reading after is not
looked up (`after` is None). Each side is first looked for within `WINDOW` of the instant, so a
table partitioned by time reads only the partitions around it; a side with nothing in the window
is then looked up beyond it, that side only (same answers as one unbounded lookup). The common
case is the end of a day still waiting for its midnight index: no reading after it yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from django.db import connection

from solde.bulk import pg_array
from solde.prepayment.rules import index_at
from solde.readings.models import Reading

# Probes per statement: SQLite binds 4 parameters per probe (limit 32,766); PostgreSQL binds
# four arrays whatever the size.
_SQLITE_BATCH = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PG_BATCH = 100_000
WINDOW = timedelta(days=35)  # first look for neighbours this close to the instant


@dataclass(frozen=True)
class Probe:
    meter_id: int
    register: str
    at: datetime


@dataclass(frozen=True)
class Neighbours:
    """The nearest readings around a probe's instant: (instant, value_milli) or None."""

    before: tuple[datetime, int] | None
    after: tuple[datetime, int] | None

    def index(self, at: datetime) -> Fraction | int | None:
        """The index at `at` (exact or interpolated), None while it is not known."""
        return index_at(at, self.before, self.after)


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns the stored text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def neighbours(probes: Sequence[Probe]) -> list[Neighbours]:
    """The readings around each probe's instant, in the probes' order."""
    out: list[Neighbours] = []
    batch = _PG_BATCH if connection.vendor == "postgresql" else _SQLITE_BATCH
    for start in range(0, len(probes), batch):
        out.extend(_batch(probes[start : start + batch]))
    return out


def _batch(probes: Sequence[Probe]) -> list[Neighbours]:
    if not probes:
        return []
    if connection.vendor != "postgresql":
        return _query(probes, None)
    found = _query(probes, WINDOW)
    # Nothing within the window on a side that is needed: that side, beyond the window.
    far_before = [n.before is None for n in found]
    far_after = [
        n.after is None and (n.before is None or n.before[0] != p.at)
        for p, n in zip(probes, found, strict=True)
    ]
    again = [i for i in range(len(probes)) if far_before[i] or far_after[i]]
    if again:
        far = _query(
            [probes[i] for i in again],
            WINDOW,
            beyond=([far_before[i] for i in again], [far_after[i] for i in again]),
        )
        for i, n in zip(again, far, strict=True):
            near = found[i]
            found[i] = Neighbours(near.before or n.before, near.after or n.after)
    return found


def _query(
    probes: Sequence[Probe],
    window: timedelta | None,
    beyond: tuple[Sequence[bool], Sequence[bool]] | None = None,
) -> list[Neighbours]:
    """The readings around each probe: with a window, within it; with `beyond` (per probe,
    whether to look before, whether to look after), only those sides, past the window."""
    table = connection.ops.quote_name(Reading._meta.db_table)
    if connection.vendor == "postgresql":
        # A reading on the instant makes the one after it useless: that lookup is skipped (a
        # one-time filter on the outer row). With a window, each side is bounded in time too.
        near_before = near_after = ""
        if beyond is not None:
            near_before = "AND p.far_before AND r.at <= p.t - %s::interval"
            near_after = "AND p.far_after AND r.at >= p.t + %s::interval"
        elif window is not None:
            near_before = "AND r.at > p.t - %s::interval"
            near_after = "AND r.at < p.t + %s::interval"
        sql = f"""
            SELECT p.i, (EXTRACT(EPOCH FROM b.at) * 1000000)::bigint, b.value_milli,
                   (EXTRACT(EPOCH FROM a.at) * 1000000)::bigint, a.value_milli
            FROM (SELECT u.i, u.meter_id, u.reg, (%s::timestamptz[])[u.k] AS t,
                         u.far_before, u.far_after
                  FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::int[], %s::bool[],
                              %s::bool[]) AS u(i, meter_id, reg, k, far_before, far_after)) p
            LEFT JOIN LATERAL (
                SELECT r.at, r.value_milli FROM {table} r
                WHERE r.meter_id = p.meter_id AND r.register = p.reg AND r.at <= p.t
                      {near_before}
                ORDER BY r.at DESC LIMIT 1) b ON true
            LEFT JOIN LATERAL (
                SELECT r.at, r.value_milli FROM {table} r
                WHERE b.at IS DISTINCT FROM p.t
                      AND r.meter_id = p.meter_id AND r.register = p.reg AND r.at >= p.t
                      {near_after}
                ORDER BY r.at ASC LIMIT 1) a ON true
        """
        # Probes share a few instants (midnights): send each once, index them (arrays of
        # integers cost little to send; thousands of timestamps do).
        instants = sorted({p.at for p in probes})
        position = {t: k + 1 for k, t in enumerate(instants)}
        params: list[Any] = [
            instants,
            pg_array(range(len(probes)))[0],
            pg_array([p.meter_id for p in probes])[0],
            pg_array([p.register for p in probes])[0],
            pg_array([position[p.at] for p in probes])[0],
            "{" + ",".join("t" if f else "f" for f in beyond[0]) + "}" if beyond else None,
            "{" + ",".join("t" if f else "f" for f in beyond[1]) + "}" if beyond else None,
        ]
        if window is not None:
            params += [window, window]
    else:
        # Portable form: a VALUES list of probes, correlated MAX/MIN on the unique index, then
        # joins back to fetch the values at those instants.
        values = ",".join(["(%s, %s, %s, %s)"] * len(probes))
        sql = f"""
            WITH p(i, meter_id, reg, t) AS (VALUES {values}),
            q AS (
                SELECT p.i, p.meter_id, p.reg,
                    (SELECT MAX(r.at) FROM {table} r WHERE r.meter_id = p.meter_id
                        AND r.register = p.reg AND r.at <= p.t) AS bt,
                    (SELECT MIN(r.at) FROM {table} r WHERE r.meter_id = p.meter_id
                        AND r.register = p.reg AND r.at >= p.t) AS at_
                FROM p)
            SELECT q.i, q.bt, rb.value_milli, q.at_, ra.value_milli
            FROM q
            LEFT JOIN {table} rb
                ON rb.meter_id = q.meter_id AND rb.register = q.reg AND rb.at = q.bt
            LEFT JOIN {table} ra
                ON ra.meter_id = q.meter_id AND ra.register = q.reg AND ra.at = q.at_
        """
        adapt = connection.ops.adapt_datetimefield_value
        params = []
        for i, p in enumerate(probes):
            params += [i, p.meter_id, p.register, adapt(p.at)]
    result: list[Neighbours | None] = [None] * len(probes)
    seen: dict[object, datetime | None] = {None: None}  # few distinct instants: parse each once

    def instant(value: object) -> datetime | None:
        if value not in seen:
            seen[value] = (
                _EPOCH + timedelta(microseconds=value) if isinstance(value, int) else _as_utc(value)  # type: ignore[arg-type]
            )
        return seen[value]

    with connection.cursor() as cur:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # JIT compilation costs more than this index-driven query takes.
            cur.execute("SET LOCAL jit = off")
        cur.execute(sql, params)
        for i, bt, bv, at_, av in cur.fetchall():
            before_at, after_at = instant(bt), instant(at_)
            result[i] = Neighbours(
                (before_at, int(bv)) if before_at is not None else None,
                (after_at, int(av)) if after_at is not None else None,
            )
    return [n if n is not None else Neighbours(None, None) for n in result]


def indexes_at(probes: Sequence[Probe]) -> list[Fraction | int | None]:
    """The index at each probe's instant (exact, interpolated, or None when not known yet)."""
    return [n.index(p.at) for p, n in zip(probes, neighbours(probes), strict=True)]
