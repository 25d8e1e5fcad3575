"""The provider's voice webhook (TwiML): greet, gather 13 digits, speak the balance in the
customer's language — only for requests signed by the provider, caller from its `From`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.db import transaction
from twilio.request_validator import RequestValidator

from solde.ledger.models import TransactionKind
from solde.ledger.services import collections_account
from solde.prepayment.models import PrepaymentAccount
from solde.prepayment.services import activate, credit

TOKEN = "voice-test-auth-token-0123456789"
SITE = "https://monsolde.example"


@pytest.fixture(autouse=True)
def _provider(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.SITE_URL = SITE


def _account(make_supply_point, at, language: str, cents: int):
    sp = make_supply_point(language=language)
    with transaction.atomic():
        activate({sp.pk: at("2026-11-20 00:00")})  # starting advance: 10.00
        credit(
            PrepaymentAccount.objects.get(supply_point=sp),
            cents,
            key=f"t-{sp.pk}",
            kind=TransactionKind.TOPUP,
            counter_account_id=collections_account("retail").pk,
            at=at("2026-11-25 10:00"),
        )
    return sp


def _call(client, path: str, params: dict, token: str | None = TOKEN, url: str | None = None):
    """POST like the provider: form fields, X-Twilio-Signature over the public URL."""
    headers = {}
    if token is not None:
        sig = RequestValidator(token).compute_signature(url or f"{SITE}{path}", params)
        headers["HTTP_X_TWILIO_SIGNATURE"] = sig
    return client.post(path, params, **headers)


CALL = {
    "AccountSid": "AC" + "1" * 32,
    "CallSid": "CA" + "2" * 32,
    "CallStatus": "in-progress",
    "Direction": "inbound",
    "From": "+32470555111",
    "To": "+3278000000",
}


def _verbs(response) -> ET.Element:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def test_greeting_gathers_13_digits_in_the_numbers_language(client, db):
    root = _verbs(_call(client, "/phoneline/voice/?lang=nl", CALL))
    gather = root.find("Gather")
    assert gather.get("numDigits") == "13" and gather.get("input") == "dtmf"
    assert gather.get("action") == f"{SITE}/phoneline/voice/balance/?lang=nl"
    say = gather.find("Say")
    assert say.get("language") == "nl-BE" and "13 cijfers" in say.text
    # No digits keyed: a goodbye, then the call ends.
    assert [v.tag for v in root] == ["Gather", "Say", "Hangup"]


@pytest.mark.parametrize(
    "language, say_language, balance, emergency",
    [
        ("fr", "fr-BE", "Votre solde est de 35 euros 50.", "Crédit de secours restant : 12 euros."),
        ("nl", "nl-BE", "Uw saldo bedraagt 35 euro 50.", "Resterend noodkrediet: 12 euro."),
    ],
)
def test_balance_is_said_in_the_customers_language(
    client, make_supply_point, frozen, at, language, say_language, balance, emergency
):
    sp = _account(make_supply_point, at, language, 2550)
    # The greeting was in French (the number's language); the balance is the customer's.
    root = _verbs(
        _call(
            client,
            "/phoneline/voice/balance/?lang=fr",
            CALL | {"Digits": sp.customer_reference},
        )
    )
    (say,) = root.findall("Say")
    assert say.get("language") == say_language
    assert balance in say.text and emergency in say.text
    assert sp.ean not in say.text and "Dupont" not in say.text
    assert root[-1].tag == "Hangup"


def test_unknown_reference_asks_again_then_the_limit_counts_the_providers_caller(
    client, make_supply_point, frozen, at, settings
):
    sp = _account(make_supply_point, at, "fr", 2550)
    wrong = CALL | {"Digits": "1111111111111"}
    for _ in range(settings.PHONELINE_CALLER_LIMIT):
        root = _verbs(_call(client, "/phoneline/voice/balance/?lang=fr", wrong))
        assert "Nous ne trouvons pas" in root.find("Gather/Say").text
    right = CALL | {"Digits": sp.customer_reference}
    root = _verbs(_call(client, "/phoneline/voice/balance/?lang=fr", right))
    assert "Trop d'essais" in root.find("Say").text and root.find("Gather") is None
    # A caller= query parameter does not change who is calling: still refused.
    root = _verbs(_call(client, "/phoneline/voice/balance/?lang=fr&caller=%2B32470000000", right))
    assert "Trop d'essais" in root.find("Say").text
    # Another number (the provider's From) is not affected.
    root = _verbs(
        _call(client, "/phoneline/voice/balance/?lang=fr", right | {"From": "+32470555222"})
    )
    assert "Votre solde est de 35 euros 50." in root.find("Say").text


@pytest.mark.parametrize("path", ["/phoneline/voice/", "/phoneline/voice/balance/"])
def test_forged_or_missing_signatures_are_refused(client, make_supply_point, frozen, at, path):
    sp = _account(make_supply_point, at, "fr", 2550)
    params = CALL | {"Digits": sp.customer_reference}
    for response in (
        _call(client, path, params, token=None),  # no signature
        _call(client, path, params, token="not-the-auth-token"),  # forged
        # Signed for another URL (a proxy's or an attacker's host): not what Twilio requested.
        _call(client, path, params, url=f"https://evil.example{path}"),
    ):
        assert response.status_code == 403
        assert b"Votre solde" not in response.content
    # Signed over other parameters than those sent (a tampered Digits or From).
    sig = RequestValidator(TOKEN).compute_signature(f"{SITE}{path}", CALL)
    r = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sig)
    assert r.status_code == 403
    assert client.get(path).status_code == 405


def test_no_auth_token_configured_refuses_everything(client, settings, db):
    settings.TWILIO_AUTH_TOKEN = ""
    assert _call(client, "/phoneline/voice/", CALL, token="").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_whole_call_through_the_fake_provider_over_http(
    live_server, settings, make_supply_point, at
):
    """The fake Twilio dials in over HTTP: signed webhook, <Gather>, digits, <Say>."""
    from solde import clock
    from solde.notifications.fake_twilio import FakeTwilio

    settings.SITE_URL = live_server.url
    with clock.freeze(at("2026-11-27 10:00")):
        sp = _account(make_supply_point, at, "nl", 2550)
        fake = FakeTwilio("AC" + "1" * 32, TOKEN).start()
        try:
            said = fake.place_call(
                f"{live_server.url}/phoneline/voice/", "+32470555333", [sp.customer_reference]
            )
        finally:
            fake.stop()
    assert [s.language for s in said] == ["fr-BE", "nl-BE"]
    assert "13 chiffres" in said[0].text
    assert said[1].text.startswith("Uw saldo bedraagt 35 euro 50. Resterend noodkrediet: 12 euro.")
