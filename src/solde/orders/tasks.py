"""The orders sweep, every minute of platform time: expiry, reconciliation, retries."""

from __future__ import annotations

from datetime import datetime

from solde.schedule import Job


def every_minute_once(start: datetime, end: datetime) -> list[datetime]:
    """Due each minute; after a clock jump one catch-up run is enough (the sweep looks at
    everything pending), so only the last minute boundary in (start, end] is returned."""
    last = end.replace(second=0, microsecond=0)
    return [last] if last > start else []


def _run(at: datetime) -> dict:
    from solde.orders.services import sweep

    return sweep(at)


SWEEP = Job("orders-sweep", every_minute_once, _run)
