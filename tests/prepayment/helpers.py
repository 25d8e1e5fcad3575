"""Readings and accounts for close tests, written directly (ingestion is another app's work)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from solde import clock
from solde.prepayment.models import PrepaymentAccount
from solde.prepayment.services import activate
from solde.readings.models import Reading
from solde.registry.models import Meter, SupplyPoint


def meter_of(sp: SupplyPoint) -> Meter:
    return sp.meters.order_by("pk").first()


def add_readings(meter: Meter, register: str, points: list[tuple[datetime, int]]) -> None:
    """points: (instant, value in thousandths)."""
    Reading.objects.bulk_create(
        [Reading(meter=meter, register=register, at=t, value_milli=v) for t, v in points]
    )


def quarter_hourly(
    meter: Meter, register: str, start: datetime, end: datetime, milli_per_qh: int, first: int = 0
) -> int:
    """Readings every quarter-hour from start to end inclusive; returns the last index."""
    points, t, v = [], start, first
    while t <= end:
        points.append((t, v))
        t += timedelta(minutes=15)
        v += milli_per_qh
    add_readings(meter, register, points)
    return points[-1][1]


def activated(sp: SupplyPoint, first_reading_at: datetime) -> PrepaymentAccount:
    with transaction.atomic():  # activate() runs inside the caller's (ingestion) transaction
        activate({sp.pk: first_reading_at})
    return PrepaymentAccount.objects.select_related("balance_account", "advance_account").get(
        supply_point=sp
    )


def balance(sp: SupplyPoint) -> int:
    acc = PrepaymentAccount.objects.select_related("balance_account").get(supply_point=sp)
    return acc.balance_account.balance_cents


def midnight(day: str) -> datetime:
    """Local midnight starting `day` (YYYY-MM-DD), in UTC."""
    return clock.day_start(datetime.fromisoformat(day).date())
