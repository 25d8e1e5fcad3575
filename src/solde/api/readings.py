"""`POST /api/v1/readings` (API.md): a batch of index readings, up to 10,000."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from solde.api.auth import scoped
from solde.api.errors import invalid, not_found, responses
from solde.api.types import IndexValue, Instant
from solde.readings.services import ExchangeError, exchange_meter, ingest
from solde.registry.models import Meter, SupplyPoint

router = Router(tags=["readings"])

MAX_BATCH = 10_000


class ReadingIn(BaseModel):
    """One index reading. Fields are checked row by row: a missing or malformed field rejects
    that row with reason `invalid`, not the batch. Only a field of the wrong JSON type (an
    object where text is expected) fails the whole request with 422."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    ean: str | None = Field(None, examples=["541448800000000017"])
    meter: str | None = Field(None, examples=["5437948"])
    # `register` would shadow BaseModel.register (ABC): named differently, same JSON field.
    register_: str | None = Field(None, alias="register", examples=["1.8.1"])
    at: str | None = Field(
        None, description="ISO 8601 instant with an offset", examples=["2026-11-28T00:00:00+01:00"]
    )
    value: Any = Field(
        None,
        description="Cumulative index, at most 3 decimals (a decimal string; a JSON number is "
        "read as written)",
        examples=["1234.567"],
        json_schema_extra={"type": ["string", "number", "null"]},
    )
    unit: str | None = Field(None, description="kWh (electricity) or m3 (gas)", examples=["kWh"])

    @field_validator("value", mode="before")
    @classmethod
    def _text_or_number(cls, value: object) -> object:
        if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
            return value
        raise ValueError('must be a decimal string such as "1234.567"')


class ReadingsIn(BaseModel):
    readings: list[ReadingIn]


class RejectedOut(Schema):
    index: int = Field(description="Position of the row in `readings`, from 0")
    reason: str = Field(
        description="unknown_ean, unknown_meter, unknown_register, unit_mismatch, future, "
        "conflict, index_decrease, implausible or invalid"
    )
    detail: str


class ReadingsOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectedOut]


@router.post("/readings", auth=scoped("readings"), response=responses({200: ReadingsOut}))
def post_readings(request: HttpRequest, payload: ReadingsIn) -> dict:
    """Ingest a batch: each row is accepted, ignored as an exact duplicate, or rejected with a
    reason. Sending the same batch again is harmless (its rows come back as duplicates)."""
    count = len(payload.readings)
    if count > MAX_BATCH:
        raise invalid(
            "readings",
            f"A batch holds at most {MAX_BATCH:,} readings and this one has {count:,}: "
            "split it into smaller batches.",
        )
    key = request.auth  # type: ignore[attr-defined]
    result = ingest(
        [reading.model_dump(by_alias=True) for reading in payload.readings],
        f"api:{getattr(key, 'name', '')}",
    )
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [
            {"index": r.index, "reason": r.reason, "detail": r.detail} for r in result.rejected
        ],
    }


class MeterExchangeIn(BaseModel):
    old_meter: str = Field(examples=["5437948"])
    new_meter: str = Field(examples=["5438112"])
    at: Instant = Field(description="Exchange instant, with an offset")
    final_indexes: dict[str, IndexValue] = Field(
        description="The old meter's index per register at `at`", examples=[{"1.8.1": "1234.567"}]
    )
    start_indexes: dict[str, IndexValue] = Field(
        description="The new meter's index per register at `at`; its keys are the new meter's "
        "registers",
        examples=[{"1.8.1": "0.000"}],
    )


class MeterExchangeOut(BaseModel):
    ean: str
    old_meter: str
    new_meter: str
    at: datetime
    registers: list[str]


@router.post(
    "/supply-points/{ean}/meter-exchange",
    auth=scoped("registry"),
    response=responses({200: MeterExchangeOut, 201: MeterExchangeOut}, 404),
)
def post_meter_exchange(request: HttpRequest, ean: str, payload: MeterExchangeIn):
    """Record a meter exchange with the technician's indexes: the old meter closes with its
    final indexes, the new one opens with its start indexes, so consumption continues across
    it. Sending the same exchange again returns it with 200."""
    supply_point = SupplyPoint.objects.filter(ean=ean).first()
    if supply_point is None:
        raise not_found(f"No supply point with EAN {ean}.")
    if payload.at.tzinfo is None:
        raise invalid("at", "at: give the instant with an offset, e.g. +01:00.")
    done = Meter.objects.filter(
        supply_point=supply_point, serial=payload.new_meter, installed_at=payload.at
    ).first()
    old = Meter.objects.filter(supply_point=supply_point, serial=payload.old_meter).first()
    if done is not None and old is not None and old.removed_at == payload.at:
        return Status(200, _exchange_out(ean, payload, done))
    try:
        new = exchange_meter(
            supply_point,
            payload.old_meter,
            {r: Decimal(v) for r, v in payload.final_indexes.items()},
            payload.new_meter,
            list(payload.start_indexes),
            {r: Decimal(v) for r, v in payload.start_indexes.items()},
            payload.at,
        )
    except ExchangeError as exc:
        raise invalid("meter_exchange", str(exc)) from None
    return Status(201, _exchange_out(ean, payload, new))


def _exchange_out(ean: str, payload: MeterExchangeIn, meter: Meter) -> dict:
    return {
        "ean": ean,
        "old_meter": payload.old_meter,
        "new_meter": meter.serial,
        "at": meter.installed_at,
        "registers": list(meter.registers),
    }
