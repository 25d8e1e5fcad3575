"""Sending over real local servers: SMTP (aiosmtpd), the fake Twilio over HTTP, PDF letters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command

from solde import clock, schedule
from solde.notifications import services
from solde.notifications.events import publish
from solde.notifications.models import Message, MessageStatus
from solde.notifications.rules import MAX_ATTEMPTS
from solde.sealed import seal

from .conftest import free_port, pdf_text


def test_email_is_delivered_to_the_smtp_server_in_the_customers_language(
    frozen, customer_sp, smtp_server
):
    sp = customer_sp(language="nl")
    publish("topup_received", sp.pk, "topup:1", {"amount_cents": 2500, "balance_cents": 3120})
    services.render_events()

    assert services.send_due() == {"sent": 1, "retry": 0, "failed": 0}

    ((rcpts, mail),) = smtp_server.messages
    assert rcpts == ["client@example.org"]
    assert mail["Subject"] == "Opwaardering van € 25,00 ontvangen"
    assert mail["Content-Language"] == "nl"
    # multipart/alternative: the plain text, then the same words as HTML, both in Dutch.
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    body = mail.get_body(("plain",)).get_content()
    assert body.startswith("Beste Maurice Dupont,")
    assert "Uw saldo bedraagt nu € 31,20." in body
    html = mail.get_body(("html",)).get_content()
    assert '<html lang="nl">' in html and "<p" in html
    assert "Beste Maurice Dupont," in html and "Uw saldo bedraagt nu € 31,20." in html
    assert "<title>Opwaardering van € 25,00 ontvangen</title>" in html
    assert 'href="http' in html  # the portal's address is a link
    m = Message.objects.get()
    assert m.status == MessageStatus.SENT and m.sent_at == clock.now() and m.attempts == 1
    assert services.send_due()["sent"] == 0  # once


def test_sms_goes_through_the_twilio_sdk_to_the_provider_over_http(
    frozen, customer_sp, sms_gateway
):
    sp = customer_sp(language="de", by_email=False, by_sms=True)
    publish("low_credit", sp.pk, "low:1", {"balance_cents": 850})
    services.render_events()

    services.send_due()

    # What the provider's API lists, asked through the same SDK an operator would use.
    from solde.notifications.transport import sms_client

    (listed,) = sms_client().messages.list(to="+32470123456")
    assert listed.from_ == "+3278050000"
    assert listed.body == (
        "Niedriges Guthaben: 8,50 € auf Ihrem Zähler für Strom. Aufladen auf "
        f"https://monsolde.example oder mit der Referenz {sp.customer_reference}."
    )
    m = Message.objects.get()
    assert m.status == MessageStatus.SENT and m.provider_id == listed.sid


def test_sms_at_2230_is_held_and_sent_at_0800(at, customer_sp, sms_gateway, smtp_server):
    with clock.freeze(at("2026-11-27 22:30")):
        sp = customer_sp(by_email=True, by_sms=True)
        publish("emergency_credit_engaged", sp.pk, "em:1", {"balance_cents": -200})
        services.render_events()
        services.send_due()
        sms = Message.objects.get(channel="sms")
        assert sms.status == MessageStatus.HELD
        assert sms.next_attempt_at == at("2026-11-28 08:00")
        assert len(smtp_server.messages) == 1  # e-mail is not held
        assert sms_gateway.messages == []
    with clock.freeze(at("2026-11-28 07:59")):
        services.send_due()
        assert sms_gateway.messages == []
    with clock.freeze(at("2026-11-28 08:00")):
        services.send_due()
    assert [r["to"] for r in sms_gateway.messages] == ["+32470123456"]
    sms.refresh_from_db()
    assert sms.status == MessageStatus.SENT and sms.sent_at == at("2026-11-28 08:00")


def test_gateway_down_is_retried_with_backoff_then_failed_and_visible(
    frozen, customer_sp, settings, admin_client, sms_gateway
):
    settings.TWILIO_API_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens
    sp = customer_sp(by_email=False, by_sms=True)
    publish("supply_interrupted", sp.pk, "cut:1", {"balance_cents": -1300})
    services.render_events()
    m = Message.objects.get()

    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert services.send_due()["sent"] == 0
        m.refresh_from_db()
        assert m.attempts == attempt
        assert "unreachable" in m.error
        if attempt < MAX_ATTEMPTS:
            assert m.status == MessageStatus.PENDING
            waits.append(m.next_attempt_at - clock.now())
            clock.advance(waits[-1] - timedelta(seconds=1))
            services.send_due()  # not due yet: no attempt
            m.refresh_from_db()
            assert m.attempts == attempt
            clock.advance(timedelta(seconds=1))
    assert waits == [timedelta(minutes=n) for n in (1, 2, 4, 8)]
    assert m.status == MessageStatus.FAILED and m.next_attempt_at is None
    services.send_due()
    m.refresh_from_db()
    assert m.attempts == MAX_ATTEMPTS  # a failed message is left alone

    (entry,) = services.history_for(sp.customer)
    assert entry.status == "failed" and entry.status_label == "Échec"
    page = admin_client.get(
        "/admin/notifications/message/", {"status__exact": "failed", "q": sp.ean}
    )
    assert page.status_code == 200 and "+32470123456" in page.content.decode()


def test_smtp_down_is_retried(frozen, customer_sp, settings):
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    sp = customer_sp()
    publish("low_credit", sp.pk, "low:2", {"balance_cents": 850})
    services.render_events()
    assert services.send_due() == {"sent": 0, "retry": 1, "failed": 0}
    m = Message.objects.get()
    assert m.status == MessageStatus.PENDING and m.error.startswith("SMTP")


def test_activation_letter_is_a_pdf_with_the_code_then_the_code_is_erased(
    frozen, customer_sp, media, admin_client
):
    sp = customer_sp(by_email=False, by_letter=True)
    publish("activation_code_issued", sp.pk, "code:1", {"code_sealed": seal("PP23456789")})
    services.render_events()
    services.send_due()

    m = Message.objects.get()
    assert m.status == MessageStatus.SENT and m.channel == "letter"
    data = (media / m.letter_pdf).read_bytes()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for needed in (
        "PP23456789",
        sp.customer_reference,
        sp.structured_communication,
        "Maurice Dupont",
        "4000 Liège",
        "Votre code d'activation",
    ):
        assert needed in text, needed
    # The stored body no longer holds the code; the operator cannot resend it.
    assert "PP23456789" not in m.body and "PP••••••••" in m.body and m.secret_scrubbed
    assert services.resend([m.pk]) == (0, 1)
    pdf = admin_client.get(f"/admin/notifications/message/{m.pk}/letter.pdf")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_activation_email_erased_after_sending(frozen, customer_sp, smtp_server):
    sp = customer_sp(language="en")
    publish("activation_code_issued", sp.pk, "code:2", {"code_sealed": seal("PP23456789")})
    services.render_events()
    services.send_due()
    ((_, mail),) = smtp_server.messages
    assert "Your activation code is PP23456789." in mail.get_body(("plain",)).get_content()
    assert "Your activation code is PP23456789." in mail.get_body(("html",)).get_content()
    assert "PP23456789" not in Message.objects.get().body


def test_operator_resend_sends_again(frozen, customer_sp, smtp_server, admin_client):
    sp = customer_sp()
    publish("low_credit", sp.pk, "low:3", {"balance_cents": 850})
    services.render_events()
    services.send_due()
    m = Message.objects.get()
    resp = admin_client.post(
        "/admin/notifications/message/",
        {"action": "resend_messages", "_selected_action": [m.pk]},
    )
    assert resp.status_code == 302
    services.send_due()
    assert len(smtp_server.messages) == 2


def test_history_shows_what_was_sent_to_this_customer_only(frozen, customer_sp, smtp_server):
    mine = customer_sp(language="en")
    services.add_recipient(mine.customer, name="Ann", email="ann@example.be")
    other = customer_sp()
    publish("low_credit", mine.pk, "low:m", {"balance_cents": 850})
    publish("low_credit", other.pk, "low:o", {"balance_cents": 850})
    services.render_events()
    services.send_due()
    from django.utils import translation

    with translation.override("en"):
        history = services.history_for(mine.customer)
    assert sorted(e.recipient for e in history) == ["ann@example.be", "client@example.org"]
    assert all(e.kind_label == "Low credit" and e.status_label == "Sent" for e in history)
    assert all(e.ean == mine.ean for e in history)


def test_scheduled_jobs_render_and_send_every_minute(
    frozen, customer_sp, smtp_server, django_capture_on_commit_callbacks
):
    names = {j.name for j in schedule.JOBS}
    assert {"notifications.render", "notifications.send"} <= names
    sp = customer_sp()
    schedule.run_due()
    publish("low_credit", sp.pk, "low:s", {"balance_cents": 850})
    clock.advance(timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        schedule.run_due()
    assert len(smtp_server.messages) == 1


def test_command_sends(frozen, customer_sp, smtp_server, capsys):
    sp = customer_sp()
    publish("low_credit", sp.pk, "low:c", {"balance_cents": 850})
    call_command("notifications", "send")
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    "local, expected",
    [
        ("2026-03-28 22:30", "2026-03-29 08:00"),  # the night the clocks go forward
        ("2026-10-24 21:00", "2026-10-25 08:00"),  # … and back
        ("2026-11-28 07:59", "2026-11-28 08:00"),
    ],
)
def test_quiet_hours_end_at_local_eight(at, local, expected):
    from solde.notifications.rules import quiet_hours_end

    assert quiet_hours_end(at(local)) == at(expected)
    assert isinstance(at(expected), datetime)
