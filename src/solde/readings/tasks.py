"""Scheduled upkeep of the readings table: partitions ahead, then retention per DSO."""

from __future__ import annotations

import logging
from datetime import datetime

from solde import clock, schedule

log = logging.getLogger(__name__)

PARTITIONS_JOB = "readings.partitions"
RETENTION_JOB = "readings.retention"


def create_partitions(at: datetime) -> object:
    """This month's partition and the next months' (PostgreSQL), and the months of any rows
    waiting in a catch-all partition, moved into them; last month's index packed once."""
    from solde.readings import partitions

    today = clock.local_date(at)
    done = partitions.maintain(today)
    if today.day >= 2:  # last month is closed: pack its index once
        last_month = partitions.add_months(partitions.month_start(today), -1)
        if partitions.compact(last_month):
            log.info("Readings partition of %s: index compacted", last_month.strftime("%Y-%m"))
    if done.created:
        log.info(
            "Readings partitions created: %s (%d rows moved out of the catch-alls)",
            ", ".join(m.strftime("%Y-%m") for m in done.created),
            done.moved,
        )
    return done


def apply_retention(at: datetime) -> object:
    """Drop raw readings past each DSO's retention. A blocked run fails the job with the
    guard's sentence (shown by `solde status` and the admin) and is tried again later."""
    from solde.readings import retention

    result, done = retention.apply(clock.local_date(at))
    if done.rows_deleted or done.partitions_dropped:
        log.info(
            "Readings retention: %d rows gone, partitions dropped: %s",
            done.rows_deleted,
            ", ".join(m.strftime("%Y-%m") for m in done.partitions_dropped) or "none",
        )
    return done


def register_jobs() -> None:
    schedule.register(schedule.Job(PARTITIONS_JOB, schedule.daily_at(3, 30), create_partitions))
    schedule.register(schedule.Job(RETENTION_JOB, schedule.daily_at(4, 0), apply_retention))
