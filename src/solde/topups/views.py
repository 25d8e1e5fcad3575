"""The payment provider's webhook. Thin: the work is in online.handle_webhook."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from solde.topups import online
from solde.topups.providers import ProviderUnavailable, provider_name


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Mollie posts only `id=tr_…`; anything else in the body is ignored (never trusted)."""
    payment_id = (request.POST.get("id") or "").strip()
    if not payment_id or len(payment_id) > 60:
        return HttpResponseBadRequest("Missing payment id.")
    try:
        outcome = online.handle_webhook(provider_name(), payment_id)
    except ProviderUnavailable:
        # Recorded in the inbox; the provider retries and reconciliation polls it.
        return HttpResponse("Provider unavailable, retry later.", status=503)
    return HttpResponse(outcome)
