"""The demo's message sinks: what the notification pipeline sends over SMTP lands in var/mail/,
what it sends by SMS is listed by the fake Twilio's Messages API."""

from __future__ import annotations

import io
import socket

import requests

from solde.management.commands import demo
from solde.notifications.transport import email_connection, send_email, send_sms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_email_sent_over_smtp_is_readable_in_var_mail(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    out = io.StringIO()
    controller = demo._start_mail_catcher(out)
    try:
        send_email(
            email_connection(), "hugo@example.org", "Recharge reçue", "Solde : 46,29 €", "fr", 7
        )
    finally:
        controller.stop()
    assert str(tmp_path / "mail") in out.getvalue()  # the demo says where to look
    (mail,) = (tmp_path / "mail").glob("*.eml")
    text = mail.read_text()
    assert "To: hugo@example.org" in text and "46,29 €" in text


def test_an_sms_is_listed_by_the_fake_twilio(settings):
    settings.SMS_PROVIDER = "fake"
    settings.TWILIO_API_URL = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()
    fake = demo._start_fake_sms_gateway(out)
    try:
        sid = send_sms("+32470000000", "Votre solde est de 46,29 EUR.", 7)
        # The command the demo prints lists it (Twilio's API, basic auth with the account).
        (command,) = [line for line in out.getvalue().splitlines() if "curl -u" in line]
        user, url = command.split("curl -u ")[1].split()
        listed = requests.get(url, auth=tuple(user.split(":")), timeout=5).json()
    finally:
        fake.stop()
    (message,) = listed["messages"]
    assert message["sid"] == sid and message["to"] == "+32470000000"
    assert message["body"] == "Votre solde est de 46,29 EUR."
