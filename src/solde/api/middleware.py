"""Refuse NUL characters anywhere in an API request before any view or query sees them.

PostgreSQL cannot store or even compare text holding NUL, so such input would otherwise fail
deep inside a query as a server error; it is malformed input, answered as such (422, naming the
field where it can).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse


class RefuseNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            field = _field_with_nul(request)
            if field is not None:
                return JsonResponse(
                    {
                        "error": "validation_error",
                        "detail": f"{field}: contains a NUL character; remove it and send again.",
                        "field": field,
                    },
                    status=422,
                )
        return self.get_response(request)


def _field_with_nul(request: HttpRequest) -> str | None:
    if "\x00" in unquote(request.path_info):
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in v for v in values):
            return name.replace("\x00", "")
    if request.method in ("POST", "PUT", "PATCH") and (
        b"\x00" in request.body or b"\\u0000" in request.body
    ):
        try:
            return _json_path(json.loads(request.body)) or "body"
        except ValueError:
            return "body"
    return None


def _json_path(value: object, path: str = "") -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key}".strip(".").replace("\x00", "")
        found = _json_path(child, f"{path}.{key}".lstrip("."))
        if found:
            return found
    return None
