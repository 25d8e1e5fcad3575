"""SMS through Twilio's SDK to the fake Twilio over HTTP, and the signed delivery callbacks
it sends back to Solde's web server."""

from __future__ import annotations

import time

import pytest
import requests
from twilio.request_validator import RequestValidator

from solde.notifications import services
from solde.notifications.events import publish
from solde.notifications.models import Message, MessageStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sms_site(settings, live_server, sms_gateway):
    """Solde's web server is where Twilio calls back: SITE_URL is the live server."""
    settings.SITE_URL = live_server.url
    return sms_gateway


def _send_one(customer_sp, phone="+32470123456") -> Message:
    sp = customer_sp(by_email=False, by_sms=True, phone=phone)
    publish("low_credit", sp.pk, f"low:{phone}", {"balance_cents": 850})
    services.render_events()
    assert services.send_due()["sent"] == 1
    return Message.objects.get(recipient=phone)


def test_signed_callbacks_record_delivered(frozen, customer_sp, sms_site):
    m = _send_one(customer_sp)
    assert m.provider_id.startswith("SM") and m.status == MessageStatus.SENT

    assert _wait(lambda: len(sms_site.callbacks) == 2)
    assert [(status, code) for _url, status, code in sms_site.callbacks] == [
        ("sent", 204),
        ("delivered", 204),
    ]
    m.refresh_from_db()
    assert m.delivery_status == "delivered" and m.delivery_error == ""


def test_undelivered_is_recorded_with_the_error_code(frozen, customer_sp, sms_site, admin_client):
    sms_site.unreachable.add("+32470999999")
    m = _send_one(customer_sp, phone="+32470999999")
    assert _wait(lambda: len(sms_site.callbacks) == 2)
    m.refresh_from_db()
    assert (m.delivery_status, m.delivery_error) == ("undelivered", "30003")
    # Operators find it in the delivery log.
    page = admin_client.get("/admin/notifications/message/", {"delivery_status": "undelivered"})
    assert "+32470999999" in page.content.decode()


def _callback_params(m: Message, status: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "5" * 32,
        "MessageSid": m.provider_id,
        "MessageStatus": status,
        "To": m.recipient,
    }


def test_forged_or_unsigned_callbacks_are_refused_and_write_nothing(
    frozen, customer_sp, sms_site, settings
):
    m = _send_one(customer_sp)
    assert _wait(lambda: len(sms_site.callbacks) == 2)
    m.refresh_from_db()
    url = f"{settings.SITE_URL}/notifications/sms/status/?message={m.pk}"
    params = _callback_params(m, "failed")
    forged = RequestValidator("not-the-auth-token").compute_signature(url, params)
    for headers in ({"X-Twilio-Signature": forged}, {}):
        assert requests.post(url, data=params, headers=headers, timeout=5).status_code == 403
    # A genuine signature over other parameters (replayed onto a tampered body) is refused too.
    genuine = sms_site.sign(url, _callback_params(m, "delivered"))
    r = requests.post(url, data=params, headers={"X-Twilio-Signature": genuine}, timeout=5)
    assert r.status_code == 403
    m.refresh_from_db()
    assert m.delivery_status == "delivered"


def test_late_or_repeated_callbacks_do_not_move_a_message_back(frozen, customer_sp, sms_site):
    m = _send_one(customer_sp)
    assert _wait(lambda: len(sms_site.callbacks) == 2)
    url = f"{sms_site.callbacks[0][0]}"
    for status in ("sent", "queued", "delivered"):
        r = sms_site.post_signed(url, _callback_params(m, status))
        assert r.status_code == 204
    m.refresh_from_db()
    assert m.delivery_status == "delivered"
    # Another message's id in a genuine callback: refused, nothing written.
    other = url.replace(f"message={m.pk}", f"message={m.pk + 1000}")
    assert sms_site.post_signed(other, _callback_params(m, "failed")).status_code == 404


def test_provider_refusal_is_retried_and_visible(frozen, customer_sp, sms_gateway, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-token"
    sp = customer_sp(by_email=False, by_sms=True)
    publish("low_credit", sp.pk, "low:x", {"balance_cents": 850})
    services.render_events()
    assert services.send_due() == {"sent": 0, "retry": 1, "failed": 0}
    m = Message.objects.get()
    assert m.error.startswith("SMS provider refused (401, code 20003)")
    assert sms_gateway.messages == []


def test_twilio_mode_talks_to_twilios_own_api_and_a_typo_is_refused(settings):
    import os
    import subprocess
    import sys

    from solde.notifications.transport import sms_client

    settings.SMS_PROVIDER, settings.TWILIO_API_URL = "twilio", ""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "7" * 32, "token"
    settings.TWILIO_FROM = "Solde"
    assert sms_client().api.base_url == "https://api.twilio.com"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLDE_")}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env | {"DJANGO_SETTINGS_MODULE": "solde.settings", "SOLDE_SMS_PROVIDER": "twillio"},
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "use 'twilio' or 'fake'" in out.stderr
