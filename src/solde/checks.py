"""Secure by default: in production (neither SOLDE_DEMO nor SOLDE_SIMULATION), Solde refuses to
start on a public key, a fake provider or the in-process head-end. Django runs these checks
before serving and in `solde check`; an Error stops runserver, migrate and the worker."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
OPT_OUT = "For a local demo set SOLDE_DEMO=1 (or SOLDE_SIMULATION=1 for simulation)."


def _error(id_: str, msg: str, hint: str) -> Error:
    return Error(msg, hint=f"{hint} {OPT_OUT}", id=f"solde.{id_}")


@register(Tags.security, deploy=False)
def production_settings(app_configs=None, **kwargs) -> list[Error]:
    """The settings a production deployment must not run with."""
    if not settings.PRODUCTION:
        return []
    errors = []
    if settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        errors.append(
            _error(
                "E001",
                "SOLDE_SECRET_KEY is not set: Solde would sign sessions with a public key.",
                "Set SOLDE_SECRET_KEY to a long random value (python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'), kept out of the repository.",
            )
        )
    if settings.HASH_KEY == settings.DEVELOPMENT_SECRET_KEY or settings.HASH_KEY == (
        settings.SECRET_KEY
    ):
        errors.append(
            _error(
                "E002",
                "SOLDE_HASH_KEY is not set: API keys and activation codes would be hashed with "
                "the secret key, and rotating it would invalidate them.",
                "Set SOLDE_HASH_KEY to its own long random value. An installation that already "
                "has API keys or activation codes sets it to the secret key they were made with "
                "(then rotate SOLDE_SECRET_KEY freely).",
            )
        )
    if settings.DEBUG:
        errors.append(
            _error(
                "E003",
                "SOLDE_DEBUG is on: error pages would show settings and code to the public.",
                "Unset SOLDE_DEBUG.",
            )
        )
    if settings.PAYMENT_PROVIDER == "fake":
        errors.append(
            _error(
                "E004",
                "The payment provider is the local fake: no real payment can be taken.",
                "Set SOLDE_PAYMENT_PROVIDER=mollie and SOLDE_MOLLIE_API_KEY.",
            )
        )
    if settings.SMS_PROVIDER == "fake":
        errors.append(
            _error(
                "E005",
                "SMS go to the local fake Twilio: customers would receive none.",
                "Set SOLDE_SMS_PROVIDER=twilio with SOLDE_TWILIO_ACCOUNT_SID, "
                "SOLDE_TWILIO_AUTH_TOKEN and SOLDE_TWILIO_FROM (see docs/operations.md).",
            )
        )
    if settings.HEADEND_URL == "inprocess":
        errors.append(
            _error(
                "E006",
                "The head-end is the in-process simulator: no real meter would get an order.",
                "Set SOLDE_HEADEND_URL to the MQTT broker (mqtts://host:8883).",
            )
        )
    if not settings.STAFF_2FA:
        errors.append(
            _error(
                "E007",
                "SOLDE_STAFF_2FA is off: staff would reach the admin and the console with a "
                "password alone, although they can cut supply and move money.",
                "Unset SOLDE_STAFF_2FA (every staff account then enrols an authenticator app).",
            )
        )
    return errors


CSRF_MIDDLEWARE = "solde.page_middleware.Csrf"


@register(Tags.security)
def csrf_protection(app_configs=None, **kwargs) -> list[Error]:
    """Django's own W003 looks for its class by name; pages get it through our subclass, which
    only lets the bearer-key API pass (settings silence W003 and this check stands in)."""
    if CSRF_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [
        Error(
            "Cross-site request forgery protection is not in MIDDLEWARE.",
            hint=f"Put {CSRF_MIDDLEWARE!r} back in MIDDLEWARE, after the sessions middleware.",
            id="solde.E008",
        )
    ]
