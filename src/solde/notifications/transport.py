"""How a message leaves: e-mail over SMTP, SMS over the gateway's HTTP interface.

The SMS gateway contract is small on purpose: `POST {SMS_GATEWAY_URL}/messages` with JSON
`{"to": "+32470123456", "text": "..."}` answers 2xx when accepted. `solde fake-sms` serves it
for the demo and tests.
"""

from __future__ import annotations

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
TIMEOUT_SECONDS = 10


class DeliveryError(Exception):
    """The channel refused or could not be reached; the message will be retried."""


def email_connection():
    """An SMTP connection (Django's SMTP backend, whatever EMAIL_BACKEND the tests set)."""
    backend = getattr(settings, "NOTIFICATIONS_EMAIL_BACKEND", SMTP_BACKEND)
    return get_connection(backend, fail_silently=False, timeout=TIMEOUT_SECONDS)


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
    except Exception as exc:  # smtplib and socket errors alike: retry later
        raise DeliveryError(f"SMTP: {exc.__class__.__name__}: {exc}") from exc


def send_sms(to: str, text: str, session: requests.Session | None = None) -> None:
    url = settings.SMS_GATEWAY_URL.rstrip("/") + "/messages"
    try:
        resp = (session or requests).post(
            url, json={"to": to, "text": text}, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"SMS gateway unreachable: {exc.__class__.__name__}") from exc
    if resp.status_code >= 300:
        raise DeliveryError(f"SMS gateway answered {resp.status_code}: {resp.text[:200]}")
