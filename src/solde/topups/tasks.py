"""Scheduled top-up work: payment reconciliation every few minutes."""

from __future__ import annotations

from datetime import datetime

from solde import schedule

RECONCILE_MINUTES = 5


def every_minutes(minutes: int):
    """Due at each multiple of `minutes` — but only the latest one of a long gap: polling the
    provider again for every missed slot would repeat the same work."""

    def due(start: datetime, end: datetime) -> list[datetime]:
        step = minutes * 60
        last = datetime.fromtimestamp(int(end.timestamp()) // step * step, tz=end.tzinfo)
        return [last] if last > start else []

    return due


def reconcile_payments(at: datetime) -> object:
    from solde.topups import online

    return online.reconcile()


schedule.register(
    schedule.Job("topups.reconcile_payments", every_minutes(RECONCILE_MINUTES), reconcile_payments)
)
