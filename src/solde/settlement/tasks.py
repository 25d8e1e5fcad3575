"""Scheduled settlement: draft statements at the end of each period (*default* weekly)."""

from __future__ import annotations

from datetime import datetime, timedelta

from solde import clock, schedule

ORDER = {"day": 0, "week": 1, "month": 2}


def settlement_period() -> str:
    """The DSOs' settlement period (the shortest when they differ)."""
    from solde.registry.models import Dso

    periods = [p for p in Dso.objects.values_list("settlement_period", flat=True) if p in ORDER]
    return min(periods, key=ORDER.__getitem__) if periods else "week"


def draft_statements(at: datetime) -> object:
    """At 06:00 after a period ends (the day after; Monday for weeks; the 1st for months),
    draft the statements up to yesterday. Issuing stays an operator's decision."""
    from solde.settlement import services

    today = clock.local_date(at)
    period = settlement_period()
    if period == "week" and today.weekday() != 0:
        return None
    if period == "month" and today.day != 1:
        return None
    return services.settle(period, today - timedelta(days=1))


schedule.register(
    schedule.Job("settlement.draft_statements", schedule.daily_at(6), draft_statements)
)
