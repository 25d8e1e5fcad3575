"""Refuse NUL characters anywhere in an API request before any view or query sees them.

PostgreSQL cannot store or even compare text holding NUL, so such input would otherwise fail
deep inside a query as a server error; it is malformed input, answered as such.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

_NUL_MARKS = (b"\x00", b"\\u0000", b"%00")


class RefuseNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and self._has_nul(request):
            return JsonResponse(
                {
                    "error": "validation_error",
                    "detail": "The request contains a NUL character: remove it and send again.",
                },
                status=422,
            )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        raw_path = request.get_full_path().encode()
        if any(mark in raw_path for mark in _NUL_MARKS) or "\x00" in request.path:
            return True
        if request.method in ("POST", "PUT", "PATCH"):
            body = request.body
            return b"\x00" in body or b"\\u0000" in body
        return False
