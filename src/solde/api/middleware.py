"""Refuse malformed requests before any view or query sees them.

- A NUL character anywhere (path, query, body), on every URL: PostgreSQL cannot store or even
  compare text holding NUL, so such input would otherwise fail deep inside a query as a server
  error. The API answers 422 naming the field where it can; other pages a plain 400.
- An API body larger than `MAX_BODY_BYTES`: 413 in the API's error shape (Django's own answer
  would be an HTML 400).
- A JSON body nested too deeply to parse: 422, never a RecursionError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


class TooDeep(ValueError):
    pass


class RefuseNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith("/api/")
        if api and int(request.META.get("CONTENT_LENGTH") or 0) > settings.MAX_BODY_BYTES:
            return JsonResponse(
                {
                    "error": "payload_too_large",
                    "detail": f"The request body is larger than {settings.MAX_BODY_BYTES:,} "
                    "bytes; send it in smaller batches.",
                },
                status=413,
            )
        try:
            field = _field_with_nul(request, api)
        except TooDeep:
            return JsonResponse(
                {
                    "error": "validation_error",
                    "detail": "body: the JSON is nested too deeply to read.",
                    "field": "body",
                },
                status=422,
            )
        if field is None:
            return self.get_response(request)
        if not api:
            return HttpResponseBadRequest("NUL characters are not allowed in a request.")
        return JsonResponse(
            {
                "error": "validation_error",
                "detail": f"{field}: contains a NUL character; remove it and send again.",
                "field": field,
            },
            status=422,
        )


def _field_with_nul(request: HttpRequest, api: bool) -> str | None:
    if "\x00" in unquote(request.path_info):
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in v for v in values):
            return name.replace("\x00", "")
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if not api:
        # Form fields only: an uploaded file may hold NUL bytes legitimately.
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, values in request.POST.lists():
                if "\x00" in name or any("\x00" in v for v in values):
                    return name.replace("\x00", "")
        return None
    if b"\x00" in request.body or b"\\u0000" in request.body:
        try:
            return _json_path(json.loads(request.body)) or "body"
        except RecursionError:
            raise TooDeep from None
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
