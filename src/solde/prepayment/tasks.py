"""Scheduled and triggered work of the daily close."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from solde import clock, schedule

log = logging.getLogger(__name__)

CLOSE_HOUR = 5  # local: yesterday is closed at 05:00, once the night's readings are in


def close_yesterday(at: datetime) -> object:
    """The scheduled close at 05:00 local: closes the day before (and any day still due)."""
    from solde.prepayment.close import close_day

    day = clock.local_date(at) - timedelta(days=1)
    result = close_day(day, trigger="schedule")
    log.info(
        "Daily close of %s: %d closed, %d waiting for data, %d waiting for a price",
        day,
        result.closed,
        result.waiting_for_data,
        result.waiting_for_price,
    )
    return result


def register_jobs() -> None:
    schedule.register(schedule.Job("close-day", schedule.daily_at(CLOSE_HOUR, 0), close_yesterday))


def on_readings_accepted(sender: object, supply_point_ids: Iterable[int], **kwargs: object) -> None:
    """Late readings: charge the days they complete, up to the platform's last closed day."""
    from solde.prepayment.close import catch_up

    try:
        result = catch_up(supply_point_ids)
    except Exception:  # the readings are committed; the next close retries these days
        log.exception("Catch-up close after late readings failed")
        return
    if result and result.closed:
        log.info("Late readings: %d day(s) charged up to %s", result.closed, result.day)
