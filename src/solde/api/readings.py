"""`POST /api/v1/readings` (API.md): a batch of index readings, up to 10,000."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import BaseModel, ConfigDict, Field, field_validator

from solde.api.auth import scoped
from solde.api.errors import invalid
from solde.readings.services import ingest

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


@router.post("/readings", auth=scoped("readings"), response=ReadingsOut)
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
