"""Retention of raw index readings, per DSO.

A DSO keeps its raw readings `raw_readings_retention_months` months before the current one
(*default* 36): on 2026-11-30 with 36, readings before 2023-11-01 00:00 local go. The daily
figures the close wrote (`DailyIndex`, `DayCharge`) stay for the life of the account.

On a partitioned table (PostgreSQL) a month older than every DSO's retention is detached and
dropped — instant, whatever its size; in a month that only some DSOs let go, their meters' rows
are deleted in one statement. Elsewhere (SQLite) one DELETE per DSO. Never while an active
account still needs the readings to close a day: see `blocking_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncMonth

from solde import clock
from solde.readings import partitions
from solde.readings.models import Reading

UNKNOWN_DSO = "?"  # readings of a meter id no longer in the registry (no database-level key)


class RetentionBlocked(Exception):
    """Raw readings past a retention are still needed by the close; nothing was dropped."""


@dataclass(frozen=True)
class Cut:
    """What goes from one month for one DSO."""

    month: date
    dso: str
    rows: int
    bytes: int | None  # table + index bytes freed (a share of the month's partition); None: unknown
    action: str  # "drop" (the whole partition goes) or "delete" (the DSO's rows go)


@dataclass
class Plan:
    today: date
    cutoffs: dict[str, datetime]  # per DSO: readings before this instant go
    cuts: list[Cut] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # the guard's sentences; empty: may run

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.cuts)


def cutoff(today: date, months: int) -> datetime:
    """Local midnight on the 1st of the month `months` before today's month, in UTC."""
    return partitions.month_bounds(partitions.add_months(partitions.month_start(today), -months))[0]


def cutoffs(today: date) -> dict[str, datetime]:
    from solde.registry.models import Dso

    return {
        code: cutoff(today, months)
        for code, months in Dso.objects.values_list("code", "raw_readings_retention_months")
    }


def plan(today: date | None = None, *, count: bool = True) -> Plan:
    """What a retention run would drop today, per month and DSO, and whether the guard lets
    it. Nothing is written. The guard is asked first, from which DSOs have raw readings past
    their cutoff at all (one index probe per meter at most); with `count=False` a blocked plan
    stops there, before counting rows (the job, retried while blocked)."""
    today = today or clock.today()
    result = Plan(today, cutoffs(today))
    if not result.cutoffs:
        return result
    due = {dso for dso in result.cutoffs if _has_old_readings(dso, result.cutoffs[dso])}
    result.blocked = blocking_accounts(due, result.cutoffs)
    if result.blocked and not count:
        return result
    if partitions.partitioned():
        result.cuts = _partitioned_cuts(result.cutoffs, due)
    else:
        result.cuts = _table_cuts(result.cutoffs, due)
    return result


def _has_old_readings(dso: str, before: datetime) -> bool:
    """Has any meter of the DSO a reading before `before`? Meter by meter through the unique
    index (partitions at or after `before` are pruned), stopping at the first found: a scan of
    the months another DSO keeps would cost far more."""
    if connection.vendor != "postgresql":
        return Reading.objects.filter(at__lt=before, meter__supply_point__dso_id=dso).exists()
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT 1 FROM registry_meter m
                JOIN registry_supplypoint sp ON sp.id = m.supply_point_id
                CROSS JOIN LATERAL (SELECT 1 FROM {partitions.TABLE} r
                                    WHERE r.meter_id = m.id AND r.at < %s LIMIT 1) x
                WHERE sp.dso_id = %s LIMIT 1""",
            [before, dso],
        )
        return cur.fetchone() is not None


def _dso_rows(table: str, where: str = "", params: list | None = None) -> list[tuple]:
    """(local month, DSO, rows) of a table of readings, through the meters' supply points."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT date_trunc('month', r.at AT TIME ZONE 'Europe/Brussels')::date,
                       COALESCE(sp.dso_id, %s), count(*)
                FROM {table} r
                LEFT JOIN registry_meter m ON m.id = r.meter_id
                LEFT JOIN registry_supplypoint sp ON sp.id = m.supply_point_id
                {where} GROUP BY 1, 2""",
            [UNKNOWN_DSO, *(params or [])],
        )
        return cur.fetchall()


def _partitioned_cuts(limits: dict[str, datetime], due: set[str]) -> list[Cut]:
    everyone = min(limits.values())
    parts = partitions.partitions()
    months = [p.month for p in parts if p.month is not None]
    cuts: list[Cut] = []
    for part in parts:
        if part.name == partitions.AFTER:
            continue  # after the months ahead: never old
        if part.month is None:  # the catch-all before the first month
            if not months:
                continue
            end = partitions.month_bounds(months[0])[0]
        else:
            end = partitions.month_bounds(part.month)[1]
        whole = end <= everyone
        going = [d for d in due if end <= limits[d]]
        if not whole and not going:
            continue
        # Every DSO's rows, in one pass: the bytes a DSO frees are its share of the partition.
        rows = _dso_rows(part.name)
        total = sum(n for _m, _d, n in rows) or 1
        for month, dso, n in rows:
            if whole or (dso in going and partitions.month_bounds(month)[1] <= limits[dso]):
                share = part.bytes * n // total
                cuts.append(Cut(month, dso, n, share, "drop" if whole else "delete"))
        if whole and not rows and part.month is not None:
            cuts.append(Cut(part.month, "", 0, part.bytes, "drop"))
    return sorted(cuts, key=lambda c: (c.month, c.dso))


def _table_cuts(limits: dict[str, datetime], due: set[str]) -> list[Cut]:
    per_row = _bytes_per_row()
    cuts = []
    for dso in sorted(due):
        before = limits[dso]
        months = (
            Reading.objects.filter(at__lt=before, meter__supply_point__dso_id=dso)
            .annotate(month=TruncMonth("at", tzinfo=clock.BRUSSELS))
            .values("month")
            .annotate(n=Count("id"))
            .order_by("month")
        )
        for row in months:
            month = row["month"]
            month = month.date() if isinstance(month, datetime) else month
            n = row["n"]
            cuts.append(Cut(month, dso, n, int(n * per_row) if per_row else None, "delete"))
    return sorted(cuts, key=lambda c: (c.month, c.dso))


def _bytes_per_row() -> float | None:
    """SQLite: the table's and its index's pages over its rows (None without dbstat)."""
    if connection.vendor != "sqlite":
        return None
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = %s OR name IN "
                "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s)",
                [Reading._meta.db_table, Reading._meta.db_table],
            )
            size = cur.fetchone()[0] or 0
    except DatabaseError:  # no dbstat table: an optional SQLite module
        return None
    rows = Reading.objects.count()
    return size / rows if rows else None


def blocking_accounts(dsos: set[str], limits: dict[str, datetime], shown: int = 5) -> list[str]:
    """Why the readings before each DSO's cutoff cannot go yet, one sentence per DSO.

    The close of an account's next day needs that day's readings and the last reading before
    its starting midnight. So an active account of the DSO blocks when its next day to close
    starts before the cutoff (or on the cutoff's day: the reading before it is then needed),
    or when its meter has sent nothing since the cutoff (the reading that would anchor the
    next close lies before it)."""
    from solde.prepayment.models import AccountState, PrepaymentAccount

    out = []
    for dso in sorted(d for d in dsos if d in limits):
        first_kept = clock.local_date(limits[dso])
        silent = Reading.objects.filter(
            meter__supply_point=OuterRef("supply_point"), at__gte=limits[dso]
        )
        accounts = (
            PrepaymentAccount.objects.filter(state=AccountState.ACTIVE, supply_point__dso_id=dso)
            .annotate(recent=Exists(silent))
            .filter(
                Q(last_closed_day__lt=first_kept)
                | Q(last_closed_day__isnull=True, activation_day__lte=first_kept)
                | Q(recent=False)
            )
            .order_by("last_closed_day", "pk")
            .values_list("supply_point__ean", "last_closed_day", "activation_day")
        )
        found = list(accounts[: shown + 1])
        if not found:
            continue
        names = ", ".join(
            f"{ean} (last closed day {closed.isoformat() if closed else 'none'})"
            for ean, closed, _activation in found[:shown]
        )
        more = " and more" if len(found) > shown else ""
        out.append(
            f"{dso}: active accounts still need raw readings from before "
            f"{first_kept.isoformat()} to close their next day: {names}{more}. Close those days "
            f"(solde close-day, or the catch-up once their readings are in) or raise {dso}'s "
            f"raw_readings_retention_months, then run the retention again."
        )
    return out


@dataclass(frozen=True)
class Done:
    partitions_dropped: list[date]
    rows_deleted: int


def apply(today: date | None = None) -> tuple[Plan, Done]:
    """Drop what `plan` lists. Refuses (RetentionBlocked, nothing dropped) when the guard
    does. Each partition is its own transaction."""
    result = plan(today, count=False)
    if result.blocked:
        raise RetentionBlocked(" ".join(result.blocked))
    if not result.cuts:
        return result, Done([], 0)
    dropped: list[date] = []
    deleted = 0
    if partitions.partitioned():
        if any(c.action == "drop" for c in result.cuts):
            dropped = _drop_oldest(min(result.cutoffs.values()))
        deleted += sum(c.rows for c in result.cuts if c.action == "drop")
        months = set(partitions.months())
        by_table: dict[str, set[str]] = {}
        for cut in result.cuts:
            if cut.action == "delete":
                table = (
                    partitions.partition_name(cut.month)
                    if cut.month in months
                    else partitions.BEFORE
                )
                by_table.setdefault(table, set()).add(cut.dso)
        for table, dsos in sorted(by_table.items()):
            deleted += _delete(table, dsos, result.cutoffs)
    else:
        for dso, before in result.cutoffs.items():
            if any(c.dso == dso for c in result.cuts):
                with transaction.atomic():
                    n, _ = Reading.objects.filter(
                        at__lt=before, meter__supply_point__dso_id=dso
                    ).delete()
                deleted += n
    return result, Done(dropped, deleted)


def _drop_oldest(everyone: datetime) -> list[date]:
    """Detach and drop the months older than every DSO's cutoff (always the oldest ones), and
    the catch-all before them; a new catch-all then reaches up to the first month kept, so
    every instant still has a partition. One transaction."""
    months = partitions.months()
    old = [m for m in months if partitions.month_bounds(m)[1] <= everyone]
    kept = [m for m in months if m not in old]
    if not kept or partitions.month_bounds(kept[0])[0] > everyone and not old:
        return []  # the catch-all reaches past a cutoff: its rows go by DELETE
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
        cur.execute(f"LOCK TABLE {partitions.TABLE} IN ACCESS EXCLUSIVE MODE")
        for month in old:
            name = partitions.partition_name(month)
            cur.execute(f"ALTER TABLE {partitions.TABLE} DETACH PARTITION {name}")
            cur.execute(f"DROP TABLE {name}")
        partitions.replace_before(cur, kept[0])
    return old


def _delete(table: str, dsos: set[str], limits: dict[str, datetime]) -> int:
    """One DELETE per DSO of its meters' rows before its cutoff (a whole month here)."""
    deleted = 0
    with transaction.atomic(), connection.cursor() as cur:
        for dso in sorted(dsos):
            if dso == UNKNOWN_DSO or dso not in limits:
                continue  # a meter id the registry no longer knows: left to the partition drop
            cur.execute(
                f"""DELETE FROM {table} r USING registry_meter m, registry_supplypoint sp
                    WHERE m.id = r.meter_id AND sp.id = m.supply_point_id
                      AND sp.dso_id = %s AND r.at < %s""",
                [dso, limits[dso]],
            )
            deleted += cur.rowcount
    return deleted
