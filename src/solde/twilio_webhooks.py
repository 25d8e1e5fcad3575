"""Checking that a webhook request comes from Twilio (X-Twilio-Signature).

Twilio signs the full URL it requested plus the sorted POST parameters with the account's auth
token (HMAC-SHA1); the SDK's RequestValidator computes the same. The URL is rebuilt from
SOLDE_SITE_URL — the public address Twilio was given — and never from the Host or
X-Forwarded-* headers, which a client (or a proxy) controls.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def public_url(request: HttpRequest) -> str:
    """The URL as Twilio requested it: SOLDE_SITE_URL + path and query."""
    return settings.SITE_URL.rstrip("/") + request.get_full_path()


def is_from_twilio(request: HttpRequest) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if request.method != "POST" or not signature or not token:
        return False
    valid = RequestValidator(token).validate(public_url(request), request.POST, signature)
    if not valid:
        log.warning("Refused a webhook with a bad Twilio signature on %s", request.path)
    return valid
