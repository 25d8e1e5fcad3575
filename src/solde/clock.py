"""The one clock. Everything time-dependent reads `now()` from here.

Production: the system clock. Simulation mode (SOLDE_SIMULATION=1): the clock stored in the
database, set through `POST /api/v1/clock` or `solde clock set`, running on from there at a given
speed, so every process (web, worker, simulator) sees the same time. Tests pin it with `freeze`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")

_frozen: datetime | None = None
_cache: tuple[float, datetime, datetime, float] | None = None  # (read at, anchor real, sim, speed)
_CACHE_SECONDS = 1.0


def _system_now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The platform's current instant, timezone-aware, in UTC."""
    if _frozen is not None:
        return _frozen
    from django.conf import settings

    if not settings.SIMULATION:
        return _system_now()
    global _cache
    if _cache is None or time.monotonic() - _cache[0] > _CACHE_SECONDS:
        from solde.models import SimulatedClock

        row = SimulatedClock.objects.filter(pk=1).first()
        if row is None:
            return _system_now()
        _cache = (time.monotonic(), row.anchor_real, row.anchor_simulated, row.speed)
    _, anchor_real, anchor_sim, speed = _cache
    return anchor_sim + (_system_now() - anchor_real) * speed


def set_simulated(instant: datetime, speed: float = 1.0) -> None:
    """Set the simulation clock for every process; it runs on from `instant` at `speed`."""
    from solde.models import SimulatedClock

    global _cache
    SimulatedClock.objects.update_or_create(
        pk=1,
        defaults={
            "anchor_real": _system_now(),
            "anchor_simulated": instant.astimezone(UTC),
            "speed": speed,
        },
    )
    _cache = None


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
