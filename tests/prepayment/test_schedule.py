"""The django-q2 schedule drives solde.schedule every minute; the close is one of its jobs."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from solde import schedule, tasks

pytestmark = pytest.mark.django_db


def test_the_migration_schedules_the_tick_every_minute():
    row = Schedule.objects.get(func="solde.tasks.tick")
    assert row.schedule_type == Schedule.MINUTES and row.minutes == 1 and row.repeats == -1


def test_close_day_is_a_registered_daily_job(frozen):
    assert "close-day" in {job.name for job in schedule.JOBS}
    assert tasks.tick() >= 0
