"""Scheduled work, driven by the platform clock.

Each job says when it falls due (`due_between`) and what to do at each due instant (`run`).
`run_due()` runs every job for every instant that fell due since it last ran, in time order:
the django-q2 schedule calls it every minute, and setting the simulation clock calls it at once,
so days skipped in simulation are closed as they would have been.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from solde import clock


@dataclass(frozen=True)
class Job:
    name: str
    due_between: Callable[[datetime, datetime], Iterable[datetime]]  # instants in (start, end]
    run: Callable[[datetime], object]


JOBS: list[Job] = []


def register(job: Job) -> Job:
    JOBS[:] = [j for j in JOBS if j.name != job.name] + [job]
    return job


def daily_at(hour: int, minute: int = 0) -> Callable[[datetime, datetime], list[datetime]]:
    """Due every local day at hour:minute (wall clock, DST-aware)."""

    def due(start: datetime, end: datetime) -> list[datetime]:
        out = []
        day = clock.local_date(start) - timedelta(days=1)
        while (at := clock.local_datetime(day, hour, minute)) <= end:
            if at > start:
                out.append(at)
            day += timedelta(days=1)
        return out

    return due


def run_due(until: datetime | None = None, first_run_lookback: timedelta = timedelta(0)) -> int:
    """Run every job instant that fell due up to `until` (default: now). Returns the count."""
    from solde.models import ScheduledRun

    until = until or clock.now()
    done = 0
    pending: list[tuple[datetime, Job]] = []
    marks = {r.job: r for r in ScheduledRun.objects.all()}
    for job in JOBS:
        mark = marks.get(job.name)
        start = mark.ran_until if mark else until - first_run_lookback
        pending += [(at, job) for at in job.due_between(start, until)]
    for at, job in sorted(pending, key=lambda p: p[0]):
        job.run(at)
        ScheduledRun.objects.update_or_create(job=job.name, defaults={"ran_until": at})
        done += 1
    for job in JOBS:
        ScheduledRun.objects.update_or_create(job=job.name, defaults={"ran_until": until})
    return done
