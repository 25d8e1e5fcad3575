"""E-mail through an ESP by configuration (django-anymail); SMTP stays the default."""

from __future__ import annotations

import os
import subprocess
import sys

from django.core import mail

from solde.notifications import services
from solde.notifications.events import publish
from solde.notifications.models import Message, MessageStatus


def _settings_in_a_fresh_process(**env: str) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.NOTIFICATIONS_EMAIL_BACKEND); print(s.EMAIL_BACKEND); "
        "print(sorted(s.ANYMAIL.items()))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOLDE_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"DJANGO_SETTINGS_MODULE": "solde.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def test_smtp_is_the_default_and_an_esp_is_chosen_by_configuration():
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert _settings_in_a_fresh_process() == [smtp, smtp, "[]"]
    mailgun = "anymail.backends.mailgun.EmailBackend"
    assert _settings_in_a_fresh_process(
        SOLDE_EMAIL_BACKEND=mailgun,
        SOLDE_ANYMAIL_MAILGUN_API_KEY="key-made-up",
        SOLDE_ANYMAIL_MAILGUN_API_URL="https://api.eu.mailgun.net/v3",
    ) == [
        mailgun,
        mailgun,
        "[('MAILGUN_API_KEY', 'key-made-up'), ('MAILGUN_API_URL', 'https://api.eu.mailgun.net/v3')]",
    ]


def test_messages_go_through_the_configured_anymail_backend(frozen, customer_sp, settings):
    settings.NOTIFICATIONS_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    mail.outbox = []
    sp = customer_sp(language="nl")
    publish("topup_received", sp.pk, "topup:9", {"amount_cents": 2500, "balance_cents": 3120})
    services.render_events()

    assert services.send_due() == {"sent": 1, "retry": 0, "failed": 0}

    (sent,) = mail.outbox
    assert sent.anymail_test_params["to"][0].addr_spec == "client@example.org"
    assert sent.subject == "Opwaardering van € 25,00 ontvangen"
    assert sent.extra_headers["Content-Language"] == "nl"
    # Anymail reports what the ESP said: the ESP's status per recipient.
    assert sent.anymail_status.status == {"sent"}
    assert Message.objects.get().status == MessageStatus.SENT


def test_an_esp_refusal_is_retried(frozen, customer_sp, settings, monkeypatch):
    from anymail.backends.test import EmailBackend
    from anymail.exceptions import AnymailAPIError

    settings.NOTIFICATIONS_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"

    def refuse(self, payload, message):
        raise AnymailAPIError("ESP answered 503")

    monkeypatch.setattr(EmailBackend, "post_to_esp", refuse)
    sp = customer_sp()
    publish("low_credit", sp.pk, "low:esp", {"balance_cents": 850})
    services.render_events()
    assert services.send_due() == {"sent": 0, "retry": 1, "failed": 0}
    m = Message.objects.get()
    assert m.status == MessageStatus.PENDING and "ESP answered 503" in m.error
