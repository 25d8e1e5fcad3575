"""The API's error shape: {"error": code, "detail": sentence} (API.md)."""

from __future__ import annotations


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
