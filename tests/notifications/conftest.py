"""Real local servers for the channels: aiosmtpd (SMTP) and the fake Twilio (HTTP)."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    """aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, msg))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free loopback port; settings point at it. `.messages` holds
    (recipients, email.message.EmailMessage)."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def sms_gateway(settings):
    """The fake Twilio over HTTP on a free port, with its own account; settings point at it.
    `.messages` holds what it accepted (dicts as Twilio's API answers them)."""
    from solde.notifications.fake_twilio import FakeTwilio

    settings.SMS_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID = "AC" + "5" * 32
    settings.TWILIO_AUTH_TOKEN = "test-auth-token-0123456789abcdef"
    settings.TWILIO_FROM = "+3278050000"
    gateway = FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN).start()
    settings.TWILIO_API_URL = gateway.url
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://monsolde.example"
    return settings.MEDIA_ROOT


@pytest.fixture
def customer_sp(make_supply_point):
    """make(language=, email=, phone=, sms=, letter=, ...) → a supply point whose customer has
    those contact preferences."""
    from solde.notifications.models import ContactPreference

    def make(
        language="fr",
        email="client@example.org",
        phone="+32470123456",
        by_email=True,
        by_sms=False,
        by_letter=False,
        **kw,
    ):
        sp = make_supply_point(language=language, email=email, **kw)
        c = sp.customer
        c.phone = phone
        c.save(update_fields=["phone"])
        ContactPreference.objects.create(customer=c, email=by_email, sms=by_sms, letter=by_letter)
        return sp

    return make


def pdf_text(data: bytes) -> str:
    """The text drawn in a reportlab PDF (uncompressed or Flate streams, WinAnsi strings)."""
    import re
    import zlib

    chunks = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = m.group(1)
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", raw):
            s = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda e: bytes([int(e.group(1), 8)]) if e.group(1).isdigit() else e.group(1),
                s,
            )
            chunks.append(s.decode("cp1252"))
    return "\n".join(chunks)
