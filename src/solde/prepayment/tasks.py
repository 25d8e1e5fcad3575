"""Scheduled and triggered work of the daily close: the 05:00 close, and the catch-up close
after late readings (durable work, see solde.work)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction

from solde import clock, faults, schedule, work

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
    work.handler(CATCH_UP)(catch_up)


CATCH_UP = "close.catch_up"


def catch_up_later(supply_point_ids: Iterable[int]) -> None:
    """Late readings were accepted for these supply points: leave the catch-up close as work in
    the caller's transaction (the ingestion's), and try it right after the commit. If that try
    fails or the process dies, the work item is still there for the worker."""
    ids = sorted(set(supply_point_ids))
    if not ids:
        return
    work.enqueue(CATCH_UP, f"{CATCH_UP}:{uuid.uuid4().hex}", {"supply_points": ids}, group=CATCH_UP)
    transaction.on_commit(drain_catch_up)


def drain_catch_up() -> None:
    try:
        work.drain([CATCH_UP])
    except Exception:  # the work item is committed (with its cause): the worker retries it
        log.exception("The catch-up close could not run now; the worker retries it")


def catch_up(payloads: list[dict]) -> None:
    """Charge the days late readings complete, up to the platform's last closed day, for every
    supply point of the pending catch-up items at once (every account behind it, once a
    platform close has ended)."""
    from solde.prepayment.close import catch_up as close_catch_up

    if any(p.get("behind") for p in payloads):
        result = close_catch_up(None)  # what a platform close left behind, these included
    else:
        result = close_catch_up(sorted({sp for p in payloads for sp in p["supply_points"]}))
    faults.point("catch_up.after_close")
    if result and result.closed:
        log.info("Late readings: %d day(s) charged up to %s", result.closed, result.day)
