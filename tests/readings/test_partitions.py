"""The readings table's monthly partitions (PostgreSQL) and the job that creates them ahead."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from solde import clock, schedule
from solde.readings import partitions, tasks
from solde.readings.models import Reading
from tests.conftest import on_postgres


def pg_only():
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (declarative partitions)")


def rows_in(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def exists(table: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return cur.fetchone()[0]


def readings(meter, start: datetime, count: int, register: str = "1.8.1") -> list[Reading]:
    return Reading.objects.bulk_create(
        Reading(meter=meter, register=register, at=start + timedelta(minutes=15 * i), value_milli=i)
        for i in range(count)
    )


def test_month_bounds_are_local_midnights():
    # Winter month (UTC+1) and the month of the spring switch (ends at UTC+2).
    assert partitions.month_bounds(date(2026, 3, 1)) == (
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 22, 0, tzinfo=UTC),
    )
    assert partitions.add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert partitions.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert partitions.partition_name(date(2027, 2, 1)) == "readings_reading_y2027m02"


def test_table_is_partitioned_with_one_index_and_two_catch_alls(db):
    pg_only()
    assert partitions.partitioned()
    names = [p.name for p in partitions.partitions()]
    assert names[0] == partitions.BEFORE and names[-1] == partitions.AFTER
    this_month = datetime.now(clock.BRUSSELS).date().replace(day=1)
    for k in range(4):  # the migration made this month and three ahead
        assert partitions.partition_name(partitions.add_months(this_month, k)) in names
    months = partitions.months()
    assert all(partitions.add_months(a, 1) == b for a, b in zip(months, months[1:], strict=False))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [partitions.partition_name(this_month)],
        )
        indexes = [r[0] for r in cur.fetchall()]
    # Only the unique (meter, register, at): no primary-key index on id.
    assert len(indexes) == 1 and "(meter_id, register, at)" in indexes[0]


def test_the_nearest_reading_before_an_instant_reads_one_month(meter):
    """No DEFAULT partition: PostgreSQL scans the months in order and stops at the first
    reading found, instead of probing every month's index (decision 0009)."""
    pg_only()
    partitions.ensure(date(2025, 1, 1), date(2026, 11, 1))
    readings(meter, datetime(2025, 1, 5, tzinfo=UTC), 4)
    readings(meter, datetime(2026, 10, 5, tzinfo=UTC), 4)
    with connection.cursor() as cur:
        cur.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
            "SELECT r.at FROM readings_reading r WHERE r.meter_id = %s "
            "AND r.register = '1.8.1' AND r.at <= %s ORDER BY r.at DESC LIMIT 1",
            [meter.pk, datetime(2026, 10, 20, tzinfo=UTC)],
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Merge Append" not in plan
    scanned = [
        line for line in plan.splitlines() if "Scan" in line and "never executed" not in line
    ]
    assert len(scanned) == 1 and "y2026m10" in scanned[0]


def test_job_creates_months_ahead_idempotently(meter, settings):
    pg_only()
    settings.READINGS_PARTITIONS_AHEAD = 3
    highest = partitions.months()[-1]
    today = partitions.add_months(highest, 2)
    first = partitions.maintain(today)
    assert first.created == [partitions.add_months(highest, k) for k in range(1, 6)]
    assert partitions.maintain(today).created == []  # nothing twice
    last = partitions.add_months(highest, 5)
    assert exists(partitions.partition_name(last))
    assert not exists(partitions.partition_name(partitions.add_months(last, 1)))
    # Readings of those months land in their partition; later ones in the catch-all after.
    lo, _hi = partitions.month_bounds(last)
    readings(meter, lo - timedelta(hours=1), 8)
    assert rows_in(partitions.partition_name(partitions.add_months(last, -1))) == 4
    assert rows_in(partitions.partition_name(last)) == 4
    readings(meter, partitions.month_bounds(last)[1], 3, register="1.8.2")
    assert rows_in(partitions.AFTER) == 3
    # The job gives them their month, and moves them.
    done = partitions.maintain(today)
    assert done.created == [partitions.add_months(last, 1)] and done.moved == 3
    assert rows_in(partitions.AFTER) == 0


@pytest.fixture
def meter(make_supply_point):
    return make_supply_point().meters.get()


def test_rows_before_the_first_month_move_into_their_month(meter, settings):
    pg_only()
    settings.READINGS_PARTITIONS_AHEAD = 0
    old = datetime(2019, 3, 10, 12, 0, tzinfo=UTC)  # before the first month's partition
    readings(meter, old, 10)
    readings(meter, old, 10, register="1.8.2")
    assert rows_in(partitions.BEFORE) == 20
    first = partitions.months()[0]
    done = partitions.maintain(date(2026, 11, 28))
    assert done.created[0] == date(2019, 3, 1) and done.moved == 20
    assert done.created[-1] == partitions.add_months(first, -1)  # contiguous up to the first
    assert rows_in(partitions.BEFORE) == 0
    assert rows_in("readings_reading_y2019m03") == 20
    # Still one table to Django: same rows, same values, and the unique key still holds.
    got = Reading.objects.filter(meter=meter, register="1.8.1").order_by("at")
    assert [r.value_milli for r in got] == list(range(10)) and got[0].at == old
    with pytest.raises(IntegrityError), transaction.atomic():
        readings(meter, old, 1)


def test_ensure_before_a_bulk_load_keeps_the_catch_alls_empty(meter):
    pg_only()
    done = partitions.ensure(date(2018, 1, 15), date(2018, 3, 2))
    assert done.created[:3] == [date(2018, 1, 1), date(2018, 2, 1), date(2018, 3, 1)]
    readings(meter, datetime(2018, 2, 1, tzinfo=UTC), 96 * 3)
    assert rows_in(partitions.BEFORE) == 0 and rows_in("readings_reading_y2018m02") > 0


def test_ingestion_writes_through_the_parent_with_copy(frozen, make_supply_point, row):
    pg_only()
    from solde.readings.services import ingest

    sp = make_supply_point()
    start = frozen - timedelta(days=4)
    partitions.ensure(clock.local_date(start), clock.local_date(start))
    batch = [
        row(sp, clock.local(start + timedelta(minutes=15 * i)).isoformat(), f"{i}.000")
        for i in range(300)
    ]
    result = ingest(batch, source="test")
    assert result.accepted == 300
    this = partitions.partition_name(clock.local_date(start).replace(day=1))
    assert rows_in(this) == 300 and rows_in(partitions.BEFORE) == 0
    assert ingest(batch, source="test").duplicates == 300  # the unique key across partitions


def test_two_processes_creating_the_same_month_make_it_once(transactional_db):
    pg_only()
    month = partitions.add_months(partitions.months()[-1], 1)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        try:
            barrier.wait()
            results.append(partitions.ensure(month, month).created)
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=repr) == [[], [month]]  # one made it, the other found it made
    assert partitions.months()[-1] == month


def test_jobs_are_scheduled_and_shown_in_status(db, frozen):
    names = {j.name for j in schedule.JOBS}
    assert {tasks.PARTITIONS_JOB, tasks.RETENTION_JOB} <= names
    shown = {s.job: s for s in schedule.status()}
    due = shown[tasks.PARTITIONS_JOB].next_due
    assert due is not None and clock.local(due).hour == 3 and clock.local(due).minute == 30
    # Run by the scheduler like every job (a no-op on SQLite), and recorded.
    schedule.run_due(until=frozen + timedelta(days=1), first_run_lookback=timedelta(days=1))
    shown = {s.job: s for s in schedule.status()}
    assert shown[tasks.PARTITIONS_JOB].last_success_at is not None
    assert shown[tasks.RETENTION_JOB].last_success_at is not None
    assert not shown[tasks.PARTITIONS_JOB].failing


def test_status_command_lists_the_jobs(db, frozen):
    from io import StringIO

    out = StringIO()
    try:
        call_command("status", stdout=out)
    except Exception:  # noqa: BLE001 — readiness may fail here (no worker); the table is printed
        pass
    assert tasks.PARTITIONS_JOB in out.getvalue() and tasks.RETENTION_JOB in out.getvalue()


def test_migration_keeps_existing_rows_and_ids(transactional_db, make_supply_point):
    """Back to the plain table, rows written, forward again: every row is in its month's
    partition with its id, and new ids continue after the old ones."""
    pg_only()
    meter = make_supply_point().meters.get()
    this_month = datetime.now(clock.BRUSSELS).date().replace(day=1)
    next_month = partitions.add_months(this_month, 1)
    first = partitions.month_bounds(this_month)[0] + timedelta(days=1)
    second = partitions.month_bounds(next_month)[0] + timedelta(days=1)
    executor = MigrationExecutor(connection)
    executor.migrate([("readings", "0003_daily_index")])
    try:
        assert not partitions.partitioned()
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO readings_reading (id, meter_id, register, at, value_milli) VALUES "
                "(500, %s, '1.8.1', %s, 1), (501, %s, '1.8.1', %s, 2)",
                [meter.pk, first, meter.pk, second],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert partitions.partitioned()
    assert rows_in(partitions.partition_name(this_month)) == 1
    assert rows_in(partitions.partition_name(next_month)) == 1
    assert sorted(Reading.objects.values_list("id", flat=True)) == [500, 501]
    readings(meter, first + timedelta(hours=1), 1)
    assert Reading.objects.get(at=first + timedelta(hours=1)).id == 502


def test_partitions_command_creates_ahead_and_lists(db):
    from io import StringIO

    out = StringIO()
    call_command("readings-partitions", stdout=out)
    text = out.getvalue()
    if not on_postgres():
        assert "not partitioned here" in text
        return
    this_month = clock.today().replace(day=1)
    assert partitions.partition_name(this_month) in text and "catch-all" in text


def test_a_past_month_index_is_rebuilt_once(meter):
    pg_only()
    month = date(2018, 5, 1)
    partitions.ensure(month, month)
    for day in range(10):  # day by day, as ingestion writes: pages split half-full
        readings(meter, datetime(2018, 5, 2 + day, tzinfo=UTC), 96)
        readings(meter, datetime(2018, 5, 2 + day, tzinfo=UTC), 96, register="1.8.2")
    name = partitions.partition_name(month)
    assert partitions.compact(month) is True
    with connection.cursor() as cur:
        cur.execute("SELECT obj_description(%s::regclass, 'pg_class')", [name])
        assert cur.fetchone()[0] == partitions.COMPACTED
    assert partitions.compact(month) is False  # once
    assert Reading.objects.filter(meter=meter).count() == 1920  # the rows, untouched


def test_the_job_packs_last_month_from_the_second(db, frozen):
    from unittest import mock

    with mock.patch.object(partitions, "compact", return_value=False) as compact:
        tasks.create_partitions(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))  # 1 Dec: not yet
        compact.assert_not_called()
        tasks.create_partitions(datetime(2026, 12, 2, 2, 30, tzinfo=UTC))
        compact.assert_called_once_with(date(2026, 11, 1))
