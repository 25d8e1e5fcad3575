"""The daily dashboard of one DSO: accounts by state, top-ups by channel and day,
interruptions and reconnections per day, the mean time from interruption to reconnection, and
the money collected and passed to suppliers. Set-based queries only; `tables` also feed CSV."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import StringIO
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from solde import clock
from solde.orders.models import Order, OrderKind, OrderStatus
from solde.prepayment.models import AccountState, CreditState, PrepaymentAccount, Supply
from solde.settlement.models import StatementLine, StatementStatus
from solde.topups.models import Channel, Topup

INTERRUPTIONS = (OrderKind.DISCONNECT, OrderKind.LIMIT_POWER)
RESTORES = (OrderKind.RECONNECT, OrderKind.REMOVE_LIMIT)
STATES = ("ok", "low", "emergency", "exhausted", "interrupted", "limited")


@dataclass
class Dashboard:
    dso: str
    start: date
    end: date
    days: list[date]
    states: dict[str, int]
    topups: dict[str, dict[date, int]]  # channel → day → cents
    topup_counts: dict[str, int]
    interruptions: dict[date, int]
    reconnections: dict[date, int]
    mean_hours_to_reconnect: float | None
    collected: dict[date, int]
    passed: dict[date, int]
    channels: list[str] = field(default_factory=list)

    def state_labels(self) -> dict[str, str]:
        return {
            "ok": _("Crédit suffisant"),
            "low": _("Crédit bas"),
            "emergency": _("Crédit de secours"),
            "exhausted": _("Crédit épuisé"),
            "interrupted": _("Alimentation coupée"),
            "limited": _("Puissance limitée"),
        }

    def chart_data(self) -> dict:
        labels = [d.isoformat() for d in self.days]
        return {
            "labels": labels,
            "states": {
                "labels": [self.state_labels()[s] for s in STATES],
                "values": [self.states[s] for s in STATES],
            },
            "topups": [
                {
                    "label": str(Channel(c).label),
                    "values": [self.topups[c].get(d, 0) / 100 for d in self.days],
                }
                for c in self.channels
            ],
            "interruptions": [self.interruptions.get(d, 0) for d in self.days],
            "reconnections": [self.reconnections.get(d, 0) for d in self.days],
            "collected": [self.collected.get(d, 0) / 100 for d in self.days],
            "passed": [self.passed.get(d, 0) / 100 for d in self.days],
        }

    def daily_rows(self) -> list[dict]:
        rows = []
        for d in self.days:
            row: dict[str, Any] = {"day": d}
            for c in self.channels:
                row[c] = self.topups[c].get(d, 0)
            row["interruptions"] = self.interruptions.get(d, 0)
            row["reconnections"] = self.reconnections.get(d, 0)
            row["collected"] = self.collected.get(d, 0)
            row["passed"] = self.passed.get(d, 0)
            rows.append(row)
        return rows


def account_states(dso: str) -> dict[str, int]:
    """Active accounts by what the customer lives: interrupted and limited first, then credit."""
    qs = PrepaymentAccount.objects.filter(state=AccountState.ACTIVE, supply_point__dso_id=dso)
    interrupted = Q(supply__in=(Supply.DISCONNECTED, Supply.READY_FOR_RECONNECTION))
    limited = Q(supply=Supply.LIMITED)
    supplied = ~interrupted & ~limited
    agg = qs.aggregate(
        interrupted=Count("pk", filter=interrupted),
        limited=Count("pk", filter=limited),
        exhausted=Count("pk", filter=supplied & Q(credit_state=CreditState.EXHAUSTED)),
        emergency=Count("pk", filter=supplied & Q(credit_state=CreditState.EMERGENCY)),
        low=Count("pk", filter=supplied & Q(credit_state=CreditState.OK, low_credit=True)),
        ok=Count("pk", filter=supplied & Q(credit_state=CreditState.OK, low_credit=False)),
    )
    return {s: agg[s] or 0 for s in STATES}


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return clock.day_bounds(start)[0], clock.day_bounds(end)[1]


def build(dso: str, start: date, end: date) -> Dashboard:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    lo, hi = _bounds(start, end)
    topups: dict[str, dict[date, int]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    collected: dict[date, int] = defaultdict(int)
    rows = (
        Topup.objects.filter(supply_point__dso_id=dso, day__gte=start, day__lte=end)
        .values("channel", "day")
        .annotate(cents=Sum("amount_cents"), reversed=Sum("reversed_cents"), n=Count("pk"))
    )
    for r in rows:
        topups[r["channel"]][r["day"]] = r["cents"]
        counts[r["channel"]] += r["n"]
        collected[r["day"]] += r["cents"] - (r["reversed"] or 0)
    passed: dict[date, int] = defaultdict(int)
    statement_lines = (
        StatementLine.objects.filter(
            topup__supply_point__dso_id=dso,
            day__gte=start,
            day__lte=end,
            statement__status__in=(StatementStatus.ISSUED, StatementStatus.PAID),
        )
        .values("day")
        .annotate(cents=Sum("amount_cents"))
    )
    for line in statement_lines:
        passed[line["day"]] = line["cents"]
    executed = Order.objects.filter(
        meter__supply_point__dso_id=dso,
        status=OrderStatus.EXECUTED,
        finished_at__gte=lo,
        finished_at__lt=hi,
    )
    per_day = (
        executed.annotate(day=TruncDate("finished_at", tzinfo=clock.BRUSSELS))
        .values("day", "kind")
        .annotate(n=Count("pk"))
    )
    interruptions: dict[date, int] = defaultdict(int)
    reconnections: dict[date, int] = defaultdict(int)
    for o in per_day:
        if o["kind"] in INTERRUPTIONS:
            interruptions[o["day"]] += o["n"]
        elif o["kind"] in RESTORES:
            reconnections[o["day"]] += o["n"]
    return Dashboard(
        dso=dso,
        start=start,
        end=end,
        days=days,
        states=account_states(dso),
        topups=topups,
        topup_counts=dict(counts),
        interruptions=interruptions,
        reconnections=reconnections,
        mean_hours_to_reconnect=mean_hours_to_reconnect(dso, lo, hi),
        collected=collected,
        passed=passed,
        channels=[c for c in Channel.values if c in topups],
    )


def mean_hours_to_reconnect(dso: str, lo: datetime, hi: datetime) -> float | None:
    """Mean hours from an executed interruption to the next executed restore of the same
    meter, over the restores of the period."""
    rows = (
        Order.objects.filter(
            meter__supply_point__dso_id=dso,
            status=OrderStatus.EXECUTED,
            kind__in=INTERRUPTIONS + RESTORES,
            finished_at__lt=hi,
            finished_at__isnull=False,
        )
        .order_by("meter_id", "finished_at")
        .values_list("meter_id", "kind", "finished_at")
    )
    cut_at: dict[int, datetime] = {}
    spans: list[float] = []
    for meter_id, kind, at in rows.iterator(chunk_size=5000):
        if at is None:
            continue
        if kind in INTERRUPTIONS:
            cut_at.setdefault(meter_id, at)
        elif meter_id in cut_at:
            started = cut_at.pop(meter_id)
            if at >= lo:
                spans.append((at - started).total_seconds() / 3600)
    return sum(spans) / len(spans) if spans else None


def to_csv(board: Dashboard) -> str:
    out = StringIO()
    w = csv.writer(out)
    w.writerow(["dso", board.dso])
    w.writerow(["state", "accounts"])
    for s in STATES:
        w.writerow([s, board.states[s]])
    w.writerow([])
    w.writerow(
        ["day"]
        + [f"topups_{c}_eur" for c in board.channels]
        + ["interruptions", "reconnections", "collected_eur", "passed_to_suppliers_eur"]
    )
    for row in board.daily_rows():
        w.writerow(
            [row["day"].isoformat()]
            + [f"{row[c] / 100:.2f}" for c in board.channels]
            + [
                row["interruptions"],
                row["reconnections"],
                f"{row['collected'] / 100:.2f}",
                f"{row['passed'] / 100:.2f}",
            ]
        )
    w.writerow([])
    mean = board.mean_hours_to_reconnect
    w.writerow(["mean_hours_interruption_to_reconnection", "" if mean is None else f"{mean:.1f}"])
    return out.getvalue()
