"""The v1 integration API (API.md). Routers are thin: they call the apps' services."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from solde.api import orders, prepayment, readings, registry, topups
from solde.api.errors import ApiError

api = NinjaAPI(
    title="Solde integration API",
    version="1",
    description="Prepayment platform for smart electricity and gas meters. See API.md.",
    urls_namespace="api-v1",
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError):
    return api.create_response(request, exc.body(), status=exc.status)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(
        request,
        {"error": "unauthorized", "detail": "Send a valid API key: 'Authorization: Bearer <key>'."},
        status=401,
    )


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    raw = [str(p) for p in first.get("loc", [])]
    loc = [p for p in raw if p not in ("body", "query", "path", "payload")]
    # A body that is not an object at all is the body's fault: name it.
    field = ".".join(loc) or ("body" if "body" in raw else None)
    # Our validators' sentences come prefixed by pydantic ("Value error, must be …").
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    detail = f"{field}: {msg}" if field else msg
    return api.create_response(
        request,
        {"error": "validation_error", "detail": detail, "field": field, "errors": exc.errors},
        status=422,
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404):
    return api.create_response(
        request, {"error": "not_found", "detail": "Nothing here with this identifier."}, status=404
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400:
        # django-ninja's only 400: a body it cannot parse as JSON. A validation error like any
        # other (API.md: 422 naming the field).
        return api.create_response(
            request,
            {
                "error": "validation_error",
                "detail": "body: not valid JSON; send a JSON object (Content-Type: "
                "application/json).",
                "field": "body",
            },
            status=422,
        )
    return api.create_response(
        request, {"error": "http_error", "detail": str(exc)}, status=exc.status_code
    )


api.add_router("", registry.router)
api.add_router("", readings.router)
api.add_router("", prepayment.router)
api.add_router("", topups.router)
api.add_router("", orders.router)
