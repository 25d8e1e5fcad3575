"""The one clock. Everything time-dependent reads `now()` from here.

Production: the system clock. Simulation mode (SOLDE_SIMULATION=1): the clock stored in the
database, set through `POST /api/v1/clock` or `solde clock set`, running on from there at a given
speed, so every process (web, worker, simulator, head-end listener) sees the same time. Tests pin
it with `freeze`.

In simulation mode the clock row is read again for every action: outside a transaction at each
`now()`, inside one once per transaction (one primary-key read; one instant base per
transaction). No time-based cache: after another process moves the clock, the next thing this
process does already sees the new time (an order result is never stamped with yesterday's date).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")

_frozen: datetime | None = None
# Per thread (each thread has its own database connection): the clock row read in the current
# transaction, as (the outermost atomic block, anchor real, anchor simulated, speed).
_local = threading.local()


def _system_now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The platform's current instant, timezone-aware, in UTC."""
    if _frozen is not None:
        return _frozen
    from django.conf import settings

    if not settings.SIMULATION:
        return _system_now()
    from django.db import connection

    # Inside a transaction the row read at its start stands for the whole transaction;
    # outside one, every call reads it (no stale clock between two actions).
    block = connection.atomic_blocks[0] if connection.in_atomic_block else None
    cached = getattr(_local, "row", None)
    if block is None or cached is None or cached[0] is not block:
        from solde.models import SimulatedClock

        row = (
            SimulatedClock.objects.filter(pk=1)
            .values_list("anchor_real", "anchor_simulated", "speed")
            .first()
        )
        # "No clock set" is remembered for the transaction too (the system clock then).
        cached = (block, row)
        _local.row = cached if block is not None else None
        if block is not None:
            # A decorator's atomic block is one object for every call: forget the row when
            # this transaction commits, so the next one reads it again.
            connection.on_commit(_forget_row)
    row = cached[1]
    if row is None:
        return _system_now()
    anchor_real, anchor_sim, speed = row
    return anchor_sim + (_system_now() - anchor_real) * speed


def _forget_row() -> None:
    _local.row = None


def set_simulated(instant: datetime, speed: float = 1.0) -> None:
    """Set the simulation clock for every process; it runs on from `instant` at `speed`."""
    from solde.models import SimulatedClock

    SimulatedClock.objects.update_or_create(
        pk=1,
        defaults={
            "anchor_real": _system_now(),
            "anchor_simulated": instant.astimezone(UTC),
            "speed": speed,
        },
    )
    _local.row = None


@contextmanager
def freeze(instant: datetime) -> Iterator[None]:
    """Pin the clock at `instant` (tests). `advance` moves it on."""
    global _frozen
    previous = _frozen
    _frozen = instant.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (tests)."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen = _frozen + delta


def local(instant: datetime) -> datetime:
    return instant.astimezone(BRUSSELS)


def today() -> date:
    """Today's local (Europe/Brussels) date."""
    return local(now()).date()


def local_date(instant: datetime) -> date:
    return local(instant).date()


def day_start(day: date) -> datetime:
    """The UTC instant of local midnight starting `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).astimezone(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """(start, end) of a local day in UTC: 23 h in March's DST switch, 25 h in October's."""
    return day_start(day), day_start(day + timedelta(days=1))


def local_datetime(day: date, hour: int, minute: int = 0) -> datetime:
    """A local wall-clock time on `day`, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BRUSSELS).astimezone(UTC)


# Days a person or a partner may ask about: wider than any account's life, narrow enough that
# day arithmetic and time-zone conversion never overflow (9999-12-31 + 1 day does).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def in_calendar(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
