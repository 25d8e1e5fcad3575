"""The django-q2 schedule drives solde.schedule every minute; the close is one of its jobs."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django_q.models import Schedule

from solde import clock, schedule, tasks
from solde.models import ScheduledRun
from solde.prepayment.models import CloseRun

pytestmark = pytest.mark.django_db


def test_the_migration_schedules_the_tick_every_minute():
    row = Schedule.objects.get(func="solde.tasks.tick")
    assert row.schedule_type == Schedule.MINUTES and row.minutes == 1 and row.repeats == -1


def test_the_tick_closes_yesterday_at_five_and_only_then(frozen):
    assert "close-day" in {job.name for job in schedule.JOBS}
    with clock.freeze(datetime(2026, 11, 29, 4, 59, 30, tzinfo=clock.BRUSSELS)):
        tasks.tick()  # first tick: every job marked up to now, nothing due yet
        assert not CloseRun.objects.exists()
        assert tasks.tick() == 0  # nothing fell due in the last 30 seconds
    with clock.freeze(datetime(2026, 11, 29, 5, 0, 30, tzinfo=clock.BRUSSELS)):
        assert tasks.tick() >= 1  # close-day (and the every-minute jobs)
        assert tasks.tick() == 0  # the same minute again runs nothing twice
    run = CloseRun.objects.get()
    assert run.day == date(2026, 11, 28) and run.trigger == "schedule"
    mark = ScheduledRun.objects.get(job="close-day")
    assert mark.ran_until == datetime(2026, 11, 29, 5, 0, 30, tzinfo=clock.BRUSSELS)
    assert mark.attempts == 0 and mark.last_error == ""
