"""The API's error shape: {"error": code, "detail": sentence} (API.md), and the statuses every
operation documents in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.field = field

    def body(self) -> dict:
        out = {"error": self.error, "detail": self.detail}
        if self.field:
            out["field"] = self.field
        return out


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def invalid(field: str, detail: str) -> ApiError:
    return ApiError(422, "validation_error", detail, field=field)


class ErrorOut(Schema):
    """Every 4xx answer of the API."""

    error: str = Field(
        description="A code: unauthorized, forbidden, not_found, validation_error, "
        "payload_too_large, conflict, account_not_open, …",
        examples=["validation_error"],
    )
    detail: str = Field(description="What went wrong and what to do, in a sentence.")
    field: str | None = Field(None, description="The offending field (validation errors).")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Each validation error, as the schema validator reported it."
    )


# What any operation may answer besides its own: no or a bad key (401), a key without the
# operation's scope (403), a body over SOLDE_MAX_BODY_BYTES (413, even on a GET that carries
# one), and input the schema or the middleware refuses (422: wrong type, NUL character, JSON
# nested too deeply, unreadable JSON).
COMMON_ERRORS = (401, 403, 413, 422)


def responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """The `response=` of an operation: its success bodies, then every error status it can
    answer, each with the error shape."""
    return {**ok, **{status: ErrorOut for status in sorted({*COMMON_ERRORS, *errors})}}
