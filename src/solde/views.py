"""Operations endpoints: `/healthz` (the process answers), `/readyz` (the installation does its
work, solde/health.py), `/metrics` (Prometheus, solde/metrics.py, token or address only)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from solde import health, metrics
from solde.middleware import address_in, parse_networks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: no database, no broker — only that this process serves requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    results = health.run_checks()
    ok = health.ready(results)
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": [r.as_dict() for r in results]},
        status=200 if ok else 503,
    )


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    networks = parse_networks(settings.METRICS_ALLOWED_IPS)
    return bool(networks) and address_in(request.META.get("REMOTE_ADDR", ""), networks)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        # Same answer whether metrics are configured or not: nothing to learn by probing.
        return HttpResponse(
            "Metrics need a bearer token (SOLDE_METRICS_TOKEN) or an allowed address "
            "(SOLDE_METRICS_ALLOWED_IPS).\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
