"""Scheduled work, driven by the platform clock.

Each job says when it falls due (`due_between`) and what to do at each due instant (`run`).
`run_due()` runs every job for every instant that fell due since it last ran, in time order:
the django-q2 schedule calls it every minute, and setting the simulation clock calls it at once,
so days skipped in simulation are closed as they would have been.

It cannot double-run and cannot stall:
- one lock per job (a PostgreSQL session advisory lock, released when the connection ends,
  so a killed worker frees it; within one SQLite process a thread lock — SQLite platforms run
  one scheduler). A tick that finds a job locked leaves it to the tick holding it, and once it
  holds the lock it re-reads the job's progress, so an instant another tick already ran is
  not run again;
- each job is isolated: a failure is recorded on its `ScheduledRun` row (traceback, attempts,
  the instant that failed), logged, and retried with backoff; its later instants wait (days are
  closed in order) while every other job keeps running. `status()` (the admin and
  `solde status`) shows it.
"""

from __future__ import annotations

import logging
import threading
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from solde import clock

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
RETRY_BASE = timedelta(minutes=1)  # a failed job is tried again after 1, 2, 4, … minutes
RETRY_CAP = timedelta(hours=1)
_LOCK_CLASS = 0x50DE  # the first key of the advisory locks: "these are solde.schedule jobs"


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


def backoff(attempts: int) -> timedelta:
    """The wait before attempt `attempts + 1` after `attempts` failures in a row."""
    return min(RETRY_CAP, RETRY_BASE * 2 ** max(0, min(attempts - 1, 20)))


# --- Locks ------------------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31  # a signed int4


@contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """Try to take the job's lock without waiting; yields whether it was taken."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, _key(name)])
            taken = bool(cur.fetchone()[0])
        try:
            yield taken
        finally:
            if taken:
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, _key(name)])
        return
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(name, threading.Lock())
    taken = lock.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            lock.release()


# --- Running ----------------------------------------------------------------------------------


def run_due(until: datetime | None = None, first_run_lookback: timedelta = timedelta(0)) -> int:
    """Run every job instant that fell due up to `until` (default: now), in time order across
    jobs. Returns how many instants ran successfully; failures are recorded, never raised.

    The job's lock is held for one instant at a time, so a long job (the close) does not keep
    another tick from running the other jobs meanwhile."""
    from solde.models import ScheduledRun

    until = until or clock.now()
    now = clock.now()
    done = 0
    marks = {r.job: r for r in ScheduledRun.objects.all()}
    pending: list[tuple[datetime, int, Job]] = []
    stopped: set[str] = set()  # failing, backing off, or being run by another tick
    for order, job in enumerate(JOBS):
        mark = marks.get(job.name)
        if mark is not None and _backing_off(mark, now):
            stopped.add(job.name)
            continue
        start = mark.ran_until if mark else until - first_run_lookback
        pending += [(at, order, job) for at in job.due_between(start, until)]
    for at, _, job in sorted(pending, key=lambda p: (p[0], p[1])):
        if job.name in stopped:
            continue  # an earlier instant of this job failed or is elsewhere: the rest waits
        with job_lock(job.name) as taken:
            if not taken:
                log.info("scheduled job %s is being run by another tick", job.name)
                stopped.add(job.name)
                continue
            # Read under the lock: what another tick ran meanwhile is not run again.
            mark = ScheduledRun.objects.filter(job=job.name).first()
            if mark is not None and (mark.ran_until >= at or _backing_off(mark, now)):
                if mark.ran_until < at:
                    stopped.add(job.name)
                continue
            if _run_one(job, at, now):
                done += 1
            else:
                stopped.add(job.name)
    for job in JOBS:
        if job.name in stopped:
            continue
        with job_lock(job.name) as taken:
            if taken:
                _mark(job.name, until, now, success=False)  # nothing more was due up to `until`
    return done


def _backing_off(mark, now: datetime) -> bool:
    return mark.retry_at is not None and mark.retry_at > now


def _run_one(job: Job, at: datetime, now: datetime) -> bool:
    # Inside a caller's transaction (tests, a clock move from the API) a savepoint keeps a
    # failing job's writes from poisoning it; otherwise the job owns its transactions (the
    # close commits chunk by chunk).
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            job.run(at)
    except Exception:  # noqa: BLE001 — recorded on the job's row and logged; retried later
        log.exception("scheduled job %s failed at %s", job.name, at.isoformat())
        _record_failure(job.name, at, now, traceback.format_exc())
        return False
    _mark(job.name, at, now, success=True)
    return True


def _mark(name: str, ran_until: datetime, now: datetime, success: bool) -> None:
    """Move a job's progress to `ran_until` (never back); a success clears its failures."""
    from solde.models import ScheduledRun

    fields: dict[str, object] = {"ran_until": ran_until}
    if success:
        fields.update(attempts=0, failing_instant=None, retry_at=None, last_success_at=now)
    with transaction.atomic():
        row = ScheduledRun.objects.select_for_update().filter(job=name).first()
        if row is None:
            ScheduledRun.objects.create(job=name, **fields)  # type: ignore[arg-type]
        elif row.ran_until < ran_until:
            if row.failing_instant is not None and row.failing_instant <= ran_until:
                # Past the instant that failed (it is no longer due): healthy again.
                fields.update(attempts=0, failing_instant=None, retry_at=None)
            ScheduledRun.objects.filter(pk=row.pk).update(**fields)


def _record_failure(name: str, at: datetime, now: datetime, error: str) -> None:
    from solde.models import ScheduledRun

    with transaction.atomic():
        row = ScheduledRun.objects.select_for_update().filter(job=name).first()
        if row is None:
            # Never ran: its progress stays just before the failed instant.
            row = ScheduledRun.objects.create(job=name, ran_until=at - timedelta(microseconds=1))
        attempts = row.attempts + 1
        ScheduledRun.objects.filter(pk=row.pk).update(
            attempts=attempts,
            failing_instant=at,
            last_failure_at=now,
            last_error=error[-20_000:],
            retry_at=now + backoff(attempts),
        )


# --- Status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    job: str
    last_run: datetime | None  # the last due instant that ran (progress)
    last_success_at: datetime | None
    next_due: datetime | None  # the next due instant, or when a failing job is tried again
    attempts: int  # failures in a row; 0 = healthy
    failing_instant: datetime | None
    last_failure_at: datetime | None
    last_error: str

    @property
    def failing(self) -> bool:
        return self.attempts > 0


def status(horizon: timedelta = timedelta(days=8)) -> list[JobStatus]:
    """Every registered job (and any job with a row), its progress and health."""
    from solde.models import ScheduledRun

    now = clock.now()
    rows = {r.job: r for r in ScheduledRun.objects.all()}
    out = []
    for name in sorted({j.name for j in JOBS} | set(rows)):
        job = next((j for j in JOBS if j.name == name), None)
        row = rows.get(name)
        start = row.ran_until if row else now
        next_due = None
        if job is not None:
            if row is not None and row.failing_instant is not None:
                next_due = row.failing_instant
            else:
                next_due = _next_due(job, start, horizon)
        if row is not None and row.retry_at is not None and next_due is not None:
            next_due = max(next_due, row.retry_at)
        out.append(
            JobStatus(
                job=name,
                last_run=row.ran_until if row else None,
                last_success_at=row.last_success_at if row else None,
                next_due=next_due,
                attempts=row.attempts if row else 0,
                failing_instant=row.failing_instant if row else None,
                last_failure_at=row.last_failure_at if row else None,
                last_error=row.last_error if row else "",
            )
        )
    return out


def _next_due(job: Job, start: datetime, horizon: timedelta) -> datetime | None:
    """The first instant after `start` at which the job falls due. Minute by minute over the
    first hour (a catch-up job returns only the last instant of a long window), then the
    whole horizon (daily jobs)."""
    for k in range(60):
        found = list(job.due_between(start + k * MINUTE, start + (k + 1) * MINUTE))
        if found:
            return min(found)
    found = list(job.due_between(start, start + horizon))
    return min(found) if found else None
