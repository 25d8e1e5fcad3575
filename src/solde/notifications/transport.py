"""How a message leaves: e-mail through Django's mail backends, SMS through Twilio's API.

E-mail: SMTP by default; SOLDE_EMAIL_BACKEND picks a django-anymail ESP instead. SMS: Twilio's
Messages API through the official SDK; with SOLDE_SMS_PROVIDER=fake the same SDK talks to the
local fake Twilio (fake_twilio.py) at SOLDE_TWILIO_API_URL. Twilio reports delivery later on
the StatusCallback URL (views.sms_status), signed with X-Twilio-Signature.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.urls import reverse

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
TIMEOUT_SECONDS = 10


class DeliveryError(Exception):
    """The channel refused or could not be reached; the message will be retried."""


def email_connection():
    """A connection of the configured e-mail backend (SMTP unless SOLDE_EMAIL_BACKEND names an
    anymail ESP). Not Django's EMAIL_BACKEND, which the test runner replaces by locmem."""
    backend = getattr(settings, "NOTIFICATIONS_EMAIL_BACKEND", SMTP_BACKEND)
    options = {"timeout": TIMEOUT_SECONDS} if backend == SMTP_BACKEND else {}
    return get_connection(backend, fail_silently=False, **options)


def send_email(
    connection, to: str, subject: str, body: str, language: str, message_id: int
) -> None:
    """One e-mail as multipart/alternative: the plain text first, its HTML rendering second
    (mail clients show the last part they can), both in the reader's language."""
    from solde.notifications.render import email_html

    mail = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        connection=connection,
        headers={"Content-Language": language, "X-Solde-Message": str(message_id)},
    )
    mail.attach_alternative(email_html(subject, body, language), "text/html")
    try:
        mail.send()
    except Exception as exc:  # smtplib, socket and anymail errors alike: retry later
        module = connection.__class__.__module__
        via = "SMTP" if module == "django.core.mail.backends.smtp" else module
        raise DeliveryError(f"{via}: {exc.__class__.__name__}: {exc}") from exc


def sms_client():
    """A Twilio REST client for the configured account (one per sending batch: it keeps its
    HTTP connections). SOLDE_TWILIO_API_URL, when set, replaces https://api.twilio.com."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM):
        raise DeliveryError(
            "SMS provider not configured: set SOLDE_TWILIO_ACCOUNT_SID, SOLDE_TWILIO_AUTH_TOKEN "
            "and SOLDE_TWILIO_FROM."
        )
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS),
    )
    if settings.TWILIO_API_URL:
        client.api.base_url = settings.TWILIO_API_URL.rstrip("/")
    return client


def status_callback_url(message_id: int) -> str:
    """Where Twilio reports this message's delivery (absolute: Twilio calls it from outside)."""
    path = reverse("notifications:sms-status")
    return f"{settings.SITE_URL.rstrip('/')}{path}?message={message_id}"


def send_sms(to: str, text: str, message_id: int, client=None) -> str:
    """Hand the SMS to Twilio; returns its message SID. DeliveryError when refused/unreachable."""
    import requests
    from twilio.base.exceptions import TwilioException, TwilioRestException

    try:
        sent = (client or sms_client()).messages.create(
            to=to,
            from_=settings.TWILIO_FROM,
            body=text,
            status_callback=status_callback_url(message_id),
        )
    except TwilioRestException as exc:
        raise DeliveryError(
            f"SMS provider refused ({exc.status}, code {exc.code}): {exc.msg}"
        ) from exc
    except (TwilioException, requests.RequestException) as exc:
        raise DeliveryError(f"SMS provider unreachable: {exc.__class__.__name__}") from exc
    return str(sent.sid)
