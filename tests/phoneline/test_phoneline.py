"""The balance phone line: what it says, in which language, and to whom."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from solde import clock
from solde.ledger.models import AccountKind, TransactionKind
from solde.ledger.services import account, collections_account
from solde.phoneline import rules, services
from solde.prepayment.models import PrepaymentAccount
from solde.prepayment.services import activate, credit


@pytest.fixture
def active(make_supply_point, frozen, at):
    sp = make_supply_point(language="fr")
    activate({sp.pk: at("2026-11-20 00:00")})  # starting advance: 10.00
    acc = PrepaymentAccount.objects.get(supply_point=sp)
    credit(
        acc,
        2000,
        key="t1",
        kind=TransactionKind.TOPUP,
        counter_account_id=collections_account("retail").pk,
        at=at("2026-11-25 10:00"),
    )
    credit(
        acc,
        3550,
        key="t2",
        kind=TransactionKind.TOPUP,
        counter_account_id=collections_account("online").pk,
        at=at("2026-11-27 18:30"),
    )
    # A later adjustment is not a top-up: the last top-up stays the 27th.
    credit(
        acc,
        -4000,
        key="adj",
        kind=TransactionKind.ADJUSTMENT,
        counter_account_id=account("adjustments", AccountKind.ADJUSTMENTS).pk,
        at=at("2026-11-28 09:00"),
    )
    return sp


def test_summary_says_only_what_the_rules_allow(active):
    ref = active.customer_reference
    summary = services.phone_summary(f"{ref[:4]} {ref[4:8]}.{ref[8:10]}-{ref[10:]}")
    assert summary.balance_cents == 1000 + 2000 + 3550 - 4000
    assert summary.emergency_remaining_cents == 1200
    # Issue 11: the balance and the emergency credit, not the last top-up nor the supply.
    assert set(vars(summary)) == {"language", "balance_cents", "emergency_remaining_cents"}
    text = rules.speak(summary)
    assert text == "Votre solde est de 25 euros 50. Crédit de secours restant : 12 euros."
    assert "Dupont" not in text and active.ean not in text


def test_full_ean_is_accepted(active):
    assert services.phone_summary(active.ean).balance_cents == 2550


def test_emergency_and_interrupted(active):
    acc = PrepaymentAccount.objects.get(supply_point=active)
    credit(
        acc,
        -3000,
        key="adj2",
        kind=TransactionKind.ADJUSTMENT,
        counter_account_id=account("adjustments", AccountKind.ADJUSTMENTS).pk,
    )
    PrepaymentAccount.objects.filter(pk=acc.pk).update(supply="disconnected")
    summary = services.phone_summary(active.customer_reference)
    assert summary.balance_cents == -450 and summary.emergency_remaining_cents == 750
    text = rules.speak(summary, "fr")
    assert "Votre solde est négatif : moins 4 euros 50." in text
    assert "Crédit de secours restant : 7 euros 50." in text
    assert "alimentation" not in text


@pytest.mark.parametrize(
    "language, balance",
    [
        ("nl", "Uw saldo bedraagt 25 euro 50."),
        ("de", "Ihr Guthaben beträgt 25 Euro 50."),
        ("en", "Your balance is 25 euros and 50 cents."),
    ],
)
def test_languages(active, language, balance):
    text = rules.speak(services.phone_summary(active.customer_reference), language)
    assert text.startswith(balance) and "2026" not in text


def test_customer_language_is_the_default(make_supply_point, frozen, at):
    sp = make_supply_point(language="nl")
    activate({sp.pk: at("2026-11-27 00:00")})
    assert rules.speak(services.phone_summary(sp.customer_reference)).startswith(
        "Uw saldo bedraagt 10 euro."
    )


def test_no_balance_for_unknown_or_pending_references(make_supply_point, frozen):
    pending = make_supply_point()
    for ref in ["", "abc", "123", "0000000000000", pending.customer_reference]:
        with pytest.raises(services.NoBalance):
            services.phone_summary(ref)


@pytest.fixture
def ivr_key(db):
    from solde.api.keys import create_key

    return {"HTTP_AUTHORIZATION": f"Bearer {create_key('ivr', ['phoneline'])[1]}"}


def test_http_endpoint_text_and_voicexml(client, active, ivr_key):
    r = client.get("/phoneline/", {"reference": active.customer_reference}, **ivr_key)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain")
    assert r.content.decode().startswith("Votre solde est de 25 euros 50.")
    r = client.get(
        "/phoneline/",
        {"reference": active.customer_reference, "format": "vxml", "lang": "de"},
        **ivr_key,
    )
    assert r["Content-Type"] == "application/voicexml+xml"
    assert b'xml:lang="de-BE"' in r.content and b"Ihr Guthaben" in r.content
    r = client.get("/phoneline/", {"reference": "1111111111111", "lang": "nl"}, **ivr_key)
    assert r.status_code == 404 and "klantreferentie" in r.content.decode()


def test_http_endpoint_needs_a_key_with_the_phoneline_scope(client, active):
    from solde.api.keys import create_key

    ref = {"reference": active.customer_reference}
    r = client.get("/phoneline/", ref)
    assert r.status_code == 401 and "Votre solde" not in r.content.decode()
    r = client.get("/phoneline/", ref, HTTP_AUTHORIZATION="Bearer solde_dead_beef")
    assert r.status_code == 401
    other = create_key("reader", ["read"])[1]
    r = client.get("/phoneline/", ref, HTTP_AUTHORIZATION=f"Bearer {other}")
    assert r.status_code == 403 and "Votre solde" not in r.content.decode()


def test_brute_force_guard_per_caller(client, active, ivr_key, settings):
    for _ in range(settings.PHONELINE_CALLER_LIMIT):
        r = client.get(
            "/phoneline/", {"reference": "1111111111111", "caller": "+3242000000"}, **ivr_key
        )
        assert r.status_code == 404
    r = client.get(
        "/phoneline/", {"reference": active.customer_reference, "caller": "+3242000000"}, **ivr_key
    )
    assert r.status_code == 429 and "Trop d'essais" in r.content.decode()
    # Another caller is not affected.
    r = client.get(
        "/phoneline/", {"reference": active.customer_reference, "caller": "+3242999999"}, **ivr_key
    )
    assert r.status_code == 200


def test_command(active):
    out = StringIO()
    call_command("phoneline", active.customer_reference, "--language", "en", stdout=out)
    assert out.getvalue().startswith("Your balance is 25 euros and 50 cents.")
    with pytest.raises(CommandError):
        call_command("phoneline", "999", stdout=StringIO())


def test_amounts_and_dates_read_aloud():
    assert rules.say_amount(100, "fr") == "1 euro"
    assert rules.say_amount(5, "fr") == "0 euro 05"
    assert rules.say_amount(101, "en") == "1 euro and 1 cent"
    assert rules.say_date(date(2026, 3, 1), "fr") == "1er mars 2026"
    assert rules.say_date(clock.today(), "nl").endswith("2026")
