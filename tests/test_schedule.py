"""The scheduler cannot stall (a failing job is recorded, retried with backoff, and the others
keep running) and cannot double-run (one lock per job; overlapping ticks run an instant once)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from solde import clock, schedule
from solde.models import ScheduledRun

MIN = timedelta(minutes=1)


def every_minute(start: datetime, end: datetime) -> list[datetime]:
    out, at = [], start.replace(second=0, microsecond=0) + MIN
    while at <= end:
        out.append(at)
        at += MIN
    return out


@pytest.fixture
def jobs(monkeypatch):
    """Only the jobs a test registers (the platform's own are put back afterwards)."""
    monkeypatch.setattr(schedule, "JOBS", [])
    return schedule.JOBS


@pytest.fixture
def start(at):
    with clock.freeze(at("2026-11-30 10:00")):
        yield clock.now()


def _job(name: str, ran: list, fail: dict | None = None) -> schedule.Job:
    def run(at: datetime) -> None:
        if fail is not None and fail.get("on"):
            ScheduledRun.objects.create(job=f"written-by-{name}-{at}", ran_until=at)
            raise RuntimeError(f"{name} fell over at {at:%H:%M}")
        ran.append(at)

    return schedule.Job(name, every_minute, run)


@pytest.mark.django_db
def test_a_failing_job_is_recorded_retried_with_backoff_and_the_others_keep_running(jobs, start):
    a, b, c = [], [], []
    b_fails = {"on": True}
    for job in (_job("a", a), _job("b", b, b_fails), _job("c", c)):
        schedule.register(job)
    schedule.run_due()  # first run: every job marked up to now
    clock.advance(3 * MIN)
    assert schedule.run_due() == 6  # a and c: three minutes each; b failed at its first
    assert len(a) == len(c) == 3 and b == []
    mark = ScheduledRun.objects.get(job="b")
    assert mark.attempts == 1 and mark.failing_instant == start + MIN
    assert mark.ran_until == start  # its later minutes wait: nothing skipped
    assert "RuntimeError: b fell over at" in mark.last_error and "Traceback" in mark.last_error
    assert mark.retry_at == clock.now() + timedelta(minutes=1)
    # The failing job's writes were rolled back with it.
    assert not ScheduledRun.objects.filter(job__startswith="written-by-b").exists()

    clock.advance(timedelta(seconds=30))  # backoff not over: b is not tried, a and c go on
    schedule.run_due()
    assert ScheduledRun.objects.get(job="b").attempts == 1
    clock.advance(timedelta(seconds=31))  # retried, fails again: the backoff doubles
    schedule.run_due()
    mark = ScheduledRun.objects.get(job="b")
    assert mark.attempts == 2 and mark.retry_at == clock.now() + timedelta(minutes=2)

    b_fails["on"] = False  # fixed: the next retry runs every minute it missed, in order
    clock.advance(2 * MIN)
    schedule.run_due()
    assert b == [start + i * MIN for i in range(1, 7)]
    assert a == c == b
    mark = ScheduledRun.objects.get(job="b")
    assert (mark.attempts, mark.failing_instant, mark.retry_at) == (0, None, None)
    assert mark.last_success_at == clock.now()
    assert "fell over" in mark.last_error  # the last failure stays readable


@pytest.mark.django_db
def test_status_shows_each_job_and_the_command_fails_on_a_failing_one(jobs, start, capsys):
    schedule.register(_job("healthy", []))
    schedule.register(_job("broken", [], {"on": True}))
    schedule.run_due()
    clock.advance(MIN)
    schedule.run_due()
    rows = {s.job: s for s in schedule.status()}
    assert not rows["healthy"].failing and rows["healthy"].last_run == start + MIN
    assert rows["healthy"].next_due == start + 2 * MIN
    assert rows["broken"].failing and rows["broken"].attempts == 1
    assert rows["broken"].next_due == clock.now() + MIN  # the retry
    with pytest.raises(CommandError, match="job broken"):
        call_command("status")
    out = capsys.readouterr().out
    assert "healthy" in out and "broken" in out and "fell over" in out


@pytest.mark.django_db
def test_the_admin_lists_failing_jobs_with_their_traceback(jobs, start, admin_client):
    schedule.register(_job("broken", [], {"on": True}))
    schedule.run_due()
    clock.advance(MIN)
    schedule.run_due()
    page = admin_client.get("/admin/solde/scheduledrun/?health=failing")
    assert page.status_code == 200 and b"broken" in page.content and b"FAILING" in page.content
    row = ScheduledRun.objects.get(job="broken")
    detail = admin_client.get(f"/admin/solde/scheduledrun/{row.pk}/change/")
    assert b"RuntimeError: broken fell over" in detail.content


@pytest.mark.django_db(transaction=True)
def test_overlapping_ticks_run_each_instant_once(jobs, start):
    """Four ticks at once (threads, each with its own connection, as separate workers would
    be), a slow job: each of its instants runs exactly once."""
    runs: list[datetime] = []
    guard = threading.Lock()

    def slow(at: datetime) -> None:
        with guard:
            runs.append(at)
        time.sleep(0.05)

    schedule.register(schedule.Job("slow", every_minute, slow))
    schedule.run_due()
    until = clock.now() + 5 * MIN
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            with clock.freeze(until):  # the frozen clock is process-wide already; explicit
                barrier.wait(5)
                schedule.run_due(until=until)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(runs) == [start + i * MIN for i in range(1, 6)]  # once each
    schedule.run_due(until=until)  # a late tick for the same instants runs nothing
    assert len(runs) == 5
    assert ScheduledRun.objects.get(job="slow").ran_until == until


@pytest.mark.django_db
def test_a_job_locked_elsewhere_is_left_to_its_holder(jobs, start):
    ran: list[datetime] = []
    schedule.register(_job("held", ran))
    schedule.run_due()
    clock.advance(2 * MIN)
    # Another worker holds the job's lock (on PostgreSQL: another session's advisory lock).
    holder = threading.Event()
    release = threading.Event()

    def hold() -> None:
        try:
            with schedule.job_lock("held") as taken:
                assert taken
                holder.set()
                release.wait(10)
        finally:
            connection.close()

    t = threading.Thread(target=hold)
    t.start()
    assert holder.wait(10)
    try:
        assert schedule.run_due() == 0 and ran == []
        assert ScheduledRun.objects.get(job="held").ran_until == start  # not moved either
    finally:
        release.set()
        t.join(10)
    assert schedule.run_due() == 2 and len(ran) == 2
