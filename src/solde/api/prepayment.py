"""Balance, statement, the daily close and the simulation clock (API.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema

from solde import clock
from solde.api.auth import scoped
from solde.api.errors import ApiError, invalid, not_found, responses
from solde.api.types import Day, Instant, Number
from solde.ledger.models import Entry
from solde.money import format_eur
from solde.prepayment.close import CloseError, close_day
from solde.prepayment.models import PrepaymentAccount
from solde.prepayment.services import balance_view_of
from solde.simulation import ClockBackwards, move_clock

router = Router(tags=["prepayment"])


def _iso(instant: datetime | None) -> str | None:
    return clock.local(instant).isoformat() if instant else None


def _account(ean: str) -> PrepaymentAccount:
    acc = (
        PrepaymentAccount.objects.select_related(
            "supply_point__dso", "balance_account", "advance_account"
        )
        .filter(supply_point__ean=ean)
        .first()
    )
    if acc is None:
        raise not_found(f"No supply point with EAN {ean}.")
    return acc


def _date(field: str, text: str | None) -> date | None:
    if text in (None, ""):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{field}: '{text}' is not a date; use YYYY-MM-DD.") from None
    if not clock.in_calendar(day):
        raise invalid(field, f"{field}: give a day between {clock.FIRST_DAY} and {clock.LAST_DAY}.")
    return day


class BalanceOut(Schema):
    ean: str
    state: str
    balance: str
    emergency_credit_limit: str
    emergency_credit_remaining: str
    advance_outstanding: str
    low_credit: bool
    days_left: float | None
    supply: str
    last_update: str | None
    last_closed_day: date | None
    waiting_reason: str = ""


@router.get(
    "/supply-points/{ean}/balance", response=responses({200: BalanceOut}, 404), auth=scoped("read")
)
def balance(request: HttpRequest, ean: str):
    """The account's balance, emergency credit, advance still owed and forecast days left."""
    view = balance_view_of(ean)  # the whole read in one query
    if view is None:
        raise not_found(f"No supply point with EAN {ean}.")
    return {
        "ean": view.ean,
        "state": view.state,
        "balance": format_eur(view.balance_cents),
        "emergency_credit_limit": format_eur(view.emergency_credit_limit_cents),
        "emergency_credit_remaining": format_eur(view.emergency_credit_remaining_cents),
        "advance_outstanding": format_eur(view.advance_outstanding_cents),
        "low_credit": view.low_credit,
        "days_left": float(view.days_left) if view.days_left is not None else None,
        "supply": view.supply,
        "last_update": _iso(view.last_update),
        "last_closed_day": view.last_closed_day,
        "waiting_reason": view.waiting_reason,
    }


class StatementLine(Schema):
    at: str
    day: date | None
    kind: str
    amount: str
    balance_after: str
    reference: str
    kwh: dict[str, str] | None = None


class StatementQuery(Schema):
    from_: str | None = Field(
        None,
        alias="from",
        description="first local day, YYYY-MM-DD",
        json_schema_extra={"format": "date"},
    )
    to: str | None = Field(
        None, description="last local day, YYYY-MM-DD", json_schema_extra={"format": "date"}
    )


@router.get(
    "/supply-points/{ean}/statement",
    response=responses({200: list[StatementLine]}, 404),
    auth=scoped("read"),
)
def statement(request: HttpRequest, ean: str, q: Query[StatementQuery]):
    """The account's ledger lines from `from` to `to` (local days, default the last 31 days),
    in order, each with the balance after it; charges carry their kWh per register."""
    first, last = _date("from", q.from_), _date("to", q.to)
    acc = _account(ean)
    last = last or clock.today()
    first = first or last - timedelta(days=30)
    if first > last:
        raise invalid("from", "from: the first day comes after the last one ('to').")
    start, end = clock.day_start(first), clock.day_start(last + timedelta(days=1))
    entries = Entry.objects.filter(account_id=acc.balance_account_id)
    running = entries.filter(transaction__at__lt=start).aggregate(s=Sum("amount_cents"))["s"] or 0
    lines = []
    for tx_at, day, kind, amount, reference, details in (
        entries.filter(transaction__at__gte=start, transaction__at__lt=end)
        .order_by("transaction__at", "transaction_id")
        .values_list(
            "transaction__at",
            "transaction__day",
            "transaction__kind",
            "amount_cents",
            "transaction__reference",
            "transaction__details",
        )
    ):
        running += amount
        line = {
            "at": _iso(tx_at),
            "day": day.isoformat() if day else None,
            "kind": kind,
            "amount": format_eur(amount),
            "balance_after": format_eur(running),
            "reference": reference,
        }
        if kind == "charge":
            line["kwh"] = (details or {}).get("kwh", {})
        lines.append(line)
    # Sent as built: `day` stays null where there is none, `kwh` appears on charges only.
    return JsonResponse(lines, safe=False)


class CloseIn(Schema):
    date: Day
    ean: str | None = Field(None, max_length=18, examples=["541448800000000017"])


class CloseOut(Schema):
    date: date
    closed: int
    waiting_for_data: int
    waiting_for_price: int


@router.post("/close", response=responses({200: CloseOut}, 404), auth=scoped("operations"))
def close(request: HttpRequest, payload: CloseIn):
    """Close one local day (and any earlier day still due) for every active account or one EAN.
    Idempotent: closing a closed day again changes nothing."""
    if payload.ean and not PrepaymentAccount.objects.filter(supply_point__ean=payload.ean).exists():
        raise not_found(f"No supply point with EAN {payload.ean}.")
    try:
        result = close_day(payload.date, payload.ean, trigger="api")
    except CloseError as exc:
        raise invalid("date", str(exc)) from None
    return {
        "date": payload.date,
        "closed": result.closed,
        "waiting_for_data": result.waiting_for_data,
        "waiting_for_price": result.waiting_for_price,
    }


class ClockIn(Schema):
    now: Instant
    speed: Number = Field(1.0, ge=0, le=100_000)


class ClockOut(Schema):
    now: str
    speed: float
    jobs_run: int


@router.post("/clock", response=responses({200: ClockOut}, 404), auth=scoped("operations"))
def set_clock(request: HttpRequest, payload: ClockIn):
    """Simulation mode only: set the platform clock; scheduled work that fell due in between
    (daily closes, windows, displays) runs as it would have."""
    if not settings.SIMULATION:
        raise ApiError(404, "not_found", "The clock can only be set in simulation mode.")
    if payload.now.tzinfo is None:
        raise invalid("now", "now: give the instant with its offset, e.g. +01:00.")
    try:
        ran = move_clock(payload.now, payload.speed)
    except ClockBackwards as exc:
        raise invalid("now", str(exc)) from None
    return {"now": _iso(payload.now), "speed": payload.speed, "jobs_run": ran}
