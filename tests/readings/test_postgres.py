"""PostgreSQL only: the COPY path, and batches racing on the same readings."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from solde import clock
from solde.readings import services
from solde.readings.models import Reading
from solde.readings.services import ingest
from tests.conftest import on_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(db):
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (COPY, row locks)")


def test_big_batch_goes_in_with_copy(frozen, make_supply_point, row, monkeypatch):
    points = [make_supply_point() for _ in range(3)]
    start = frozen - timedelta(days=30)
    batch = [
        row(
            sp,
            clock.local(start + timedelta(minutes=15 * i)).isoformat(),
            f"{i}.{n:03d}",
            register=reg,
        )
        for sp in points
        for n, reg in enumerate(("1.8.1", "1.8.2"))
        for i in range(2500)
    ]
    copies = []
    real_cursor = connection.cursor

    class Spy:
        def __init__(self, cursor):
            self._cursor = cursor

        def __getattr__(self, name):
            return getattr(self._cursor, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._cursor.__exit__(*exc)

        def copy(self, statement, *args, **kwargs):
            copies.append(statement)
            return self._cursor.copy(statement, *args, **kwargs)

    monkeypatch.setattr(connection, "cursor", lambda: Spy(real_cursor()))
    result = ingest(batch, "test")
    assert (result.accepted, result.rejected) == (15_000, [])
    assert copies and copies[0].startswith("COPY ")
    assert Reading.objects.count() == 15_000
    last = Reading.objects.filter(register="1.8.2").order_by("-at").first()
    assert last.value_milli == 2499_001


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_on_the_same_key_store_one_reading(frozen, make_supply_point, row):
    sp = make_supply_point()
    outcomes, errors = [], []
    barrier = threading.Barrier(4)

    def send(value: str) -> None:
        try:
            with clock.freeze(frozen):
                barrier.wait()
                result = ingest(
                    [
                        row(sp, "2026-11-28T08:00:00+01:00", value),
                        row(sp, "2026-11-28T08:15:00+01:00", value),
                    ],
                    f"t{value}",
                )
                outcomes.append((result.accepted, sorted(r.reason for r in result.rejected)))
        except Exception as exc:  # pragma: no cover — reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(v,)) for v in ("100", "200", "300", "400")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(outcomes) == [(0, ["conflict", "conflict"])] * 3 + [(2, [])]
    assert Reading.objects.count() == 2
    assert len(set(Reading.objects.values_list("value_milli", flat=True))) == 1


@pytest.mark.django_db(transaction=True)
def test_reading_slipped_in_by_another_writer_retries_the_batch(
    frozen, make_supply_point, row, monkeypatch
):
    sp = make_supply_point()
    meter = sp.meters.get()
    real = services._known_readings
    calls = []

    def racing(*args, **kwargs):
        known = real(*args, **kwargs)
        if not calls:  # first attempt: another process commits the same reading meanwhile

            def other() -> None:
                Reading.objects.create(
                    meter=meter,
                    register="1.8.1",
                    at=clock.local_datetime(frozen.date(), 8),
                    value_milli=5,
                )
                connections.close_all()

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(30)
        calls.append(1)
        return known

    monkeypatch.setattr(services, "_known_readings", racing)
    result = ingest(
        [row(sp, "2026-11-28T08:00:00+01:00", "0.005"), row(sp, "2026-11-28T08:15:00+01:00", "1")],
        "test",
    )
    assert len(calls) == 2  # judged again after the unique key refused the first attempt
    assert (result.accepted, result.duplicates) == (1, 1)
    assert Reading.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_pipelined_batches_retry_after_a_slipped_in_reading(
    frozen, make_supply_point, row, monkeypatch
):
    sp = make_supply_point()
    meter = sp.meters.get()
    real = services._known_readings
    calls = []

    def racing(*args, **kwargs):
        known = real(*args, **kwargs)
        if not calls:

            def other() -> None:
                Reading.objects.create(
                    meter=meter,
                    register="1.8.1",
                    at=clock.local_datetime(frozen.date(), 8),
                    value_milli=7,
                )
                connections.close_all()

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(30)
        calls.append(1)
        return known

    monkeypatch.setattr(services, "_known_readings", racing)
    rows = [
        tuple(row(sp, f"2026-11-28T08:{m:02d}:00+01:00", f"0.{m + 10:03d}").values())
        for m in (0, 15, 30)
    ]
    results = list(services.ingest_batches([(rows[:2], None), (rows[2:], None)], "test"))
    first = results[0][1]
    assert (first.accepted, [r.reason for r in first.rejected]) == (1, ["conflict"])
    assert results[1][1].accepted == 1
    assert Reading.objects.count() == 3


def test_reading_ids_are_drawn_32_at_a_time():
    """A bulk COPY takes its readings' ids from the session's cache, not one by one from the
    shared sequence (migration readings 0005)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seqcache FROM pg_sequence "
            "WHERE seqrelid = pg_get_serial_sequence('readings_reading', 'id')::regclass"
        )
        assert cursor.fetchone() == (32,)
