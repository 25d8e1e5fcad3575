"""One clock, at once: a move of the simulation clock by one process is seen by every other
process the next time it reads the clock (no per-process cache that lags behind)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from solde import clock
from solde.models import SimulatedClock

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _in_other_connection(fn) -> None:
    """Run `fn` in a thread: its own database connection, as another process would have."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 — re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if errors:
        raise errors[0]


def move_elsewhere(instant: datetime) -> None:
    """What another process's clock.set_simulated does, seen from here: the shared row changes
    (this process's own module state is not touched)."""
    SimulatedClock.objects.update_or_create(
        pk=1,
        defaults={"anchor_real": datetime.now(UTC), "anchor_simulated": instant, "speed": 0},
    )


@pytest.mark.django_db(transaction=True)
def test_a_jump_by_another_connection_is_seen_at_once(settings):
    settings.SIMULATION = True
    clock.set_simulated(START, speed=0)
    assert clock.now() == START
    # Another process (the API's POST /api/v1/clock) jumps a day ahead.
    _in_other_connection(lambda: move_elsewhere(START + timedelta(days=1)))
    # No wait: the very next read sees it (a 1-second cache stamped things a day early).
    assert clock.now() == START + timedelta(days=1)
    # And the other way: this process moves it, the other connection sees it at once.
    clock.set_simulated(START + timedelta(days=2), speed=0)
    seen: list[datetime] = []
    _in_other_connection(lambda: seen.append(clock.now()))
    assert seen == [START + timedelta(days=2)]


@pytest.mark.django_db(transaction=True)
def test_one_transaction_reads_the_clock_once(settings):
    """Inside one transaction the clock's base is read once (every row of the transaction gets
    instants from one reading); the next transaction sees the move."""
    settings.SIMULATION = True
    clock.set_simulated(START, speed=0)
    with transaction.atomic():
        assert clock.now() == START
        # The row changes under it (as another process's move would show on PostgreSQL).
        SimulatedClock.objects.filter(pk=1).update(
            anchor_simulated=START + timedelta(hours=5), anchor_real=datetime.now(UTC)
        )
        assert clock.now() == START
    with transaction.atomic():
        assert clock.now() == START + timedelta(hours=5)


@pytest.mark.django_db(transaction=True)
def test_the_clock_runs_on_at_its_speed(settings):
    settings.SIMULATION = True
    clock.set_simulated(START, speed=3600)  # an hour per second
    first = clock.now()
    later = clock.now()
    assert START <= first < later < START + timedelta(hours=2)


@pytest.mark.django_db(transaction=True)
def test_with_no_clock_set_a_transaction_asks_once_for_it(settings):
    """Simulation mode before anyone set the clock (the benchmarks, a fresh simulator): the
    system clock, and one look at the missing row per transaction, not one per instant."""
    settings.SIMULATION = True
    SimulatedClock.objects.all().delete()
    clock._local.row = None
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        for _ in range(3):
            assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert sum("solde_simulatedclock" in q["sql"] for q in ctx.captured_queries) == 1


@pytest.mark.django_db(transaction=True)
def test_a_decorated_service_sees_a_move_made_between_two_calls(settings):
    """`@transaction.atomic` is one block object for every call: the row read by one call's
    transaction must not stand for the next call's."""
    settings.SIMULATION = True
    clock.set_simulated(START, speed=0)

    @transaction.atomic
    def service() -> datetime:
        return clock.now()

    assert service() == START
    _in_other_connection(lambda: move_elsewhere(START + timedelta(days=1)))
    assert service() == START + timedelta(days=1)
