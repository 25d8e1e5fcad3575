"""Payment providers. The platform speaks Mollie's v2 API; `fake` points the same client at the
local fake provider server (solde fake-provider), so tests and the demo run the real code path."""

from __future__ import annotations

from django.conf import settings

from solde.topups.providers.base import (
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderUnavailable,
    UnknownPayment,
)
from solde.topups.providers.mollie import MollieProvider

# A syntactically valid Mollie test key for the fake server (it accepts any test_ key).
FAKE_API_KEY = "test_fakeproviderkeyfakeproviderkey00"

_override: PaymentProvider | None = None


def get_provider() -> PaymentProvider:
    """The provider chosen by settings.PAYMENT_PROVIDER ("fake" | "mollie")."""
    if _override is not None:
        return _override
    if settings.PAYMENT_PROVIDER == "mollie":
        return MollieProvider(settings.MOLLIE_API_KEY, name="mollie")
    return MollieProvider(FAKE_API_KEY, endpoint=settings.PAYMENT_PROVIDER_URL, name="fake")


def provider_name() -> str:
    return get_provider().name


# Where the provider's hosted checkout lives: the top-up form's redirect goes there, so the
# Content Security Policy's form-action must allow it (Chromium checks redirects after a POST).
MOLLIE_CHECKOUT_ORIGIN = "https://www.mollie.com"


def checkout_origins() -> list[str]:
    from urllib.parse import urlparse

    if settings.PAYMENT_PROVIDER == "mollie":
        return [MOLLIE_CHECKOUT_ORIGIN]
    url = urlparse(settings.PAYMENT_PROVIDER_URL)
    return [f"{url.scheme}://{url.netloc}"] if url.scheme and url.netloc else []


__all__ = [
    "PaymentProvider",
    "ProviderError",
    "ProviderPayment",
    "ProviderUnavailable",
    "UnknownPayment",
    "checkout_origins",
    "get_provider",
    "provider_name",
]
