"""Events → messages: one per chosen channel and recipient, in the reader's language, once."""

from __future__ import annotations

from collections import Counter

import pytest

from solde.notifications import services
from solde.notifications.events import publish
from solde.notifications.models import Event, EventKind, Message
from solde.sealed import seal

PAYLOADS = {
    "activation_code_issued": {"code_sealed": seal("PP23456789"), "expires_on": "2027-01-27"},
    "prepayment_activated": {"advance_cents": 1000},
    "topup_received": {"amount_cents": 2500, "balance_cents": 3120},
    "low_credit": {"balance_cents": 850},
    "emergency_credit_engaged": {"balance_cents": -310},
    "interruption_coming": {"balance_cents": -1200},
    "supply_interrupted": {"balance_cents": -1250},
    "limiter_on": {"balance_cents": -1250, "amps": 10},
    "reconnection_ready": {"balance_cents": 500},
    "advance_repaid": {"advance_cents": 1000, "balance_cents": 4200},
}
GREETING = {"fr": "Bonjour", "nl": "Beste", "de": "Guten Tag", "en": "Hello"}
TOPUP_AMOUNT = {"fr": "25,00 €", "nl": "€ 25,00", "de": "25,00 €", "en": "€25.00"}
LANGS = ("fr", "nl", "de", "en")


def test_every_kind_has_a_payload_here():
    assert set(PAYLOADS) == set(EventKind.values)


@pytest.mark.parametrize("lang", LANGS)
def test_every_kind_one_message_per_channel_and_recipient_in_the_language(
    frozen, customer_sp, lang
):
    sp = customer_sp(language=lang, by_email=True, by_sms=True, by_letter=True)
    services.add_recipient(
        sp.customer, name="Sophie Assistante", email="as@cpas.example", phone="0478 11 22 33"
    )
    for kind, payload in PAYLOADS.items():
        publish(kind, sp.pk, f"{kind}:test", payload)

    created = services.render_events()

    msgs = list(Message.objects.select_related("event"))
    assert created == len(msgs)
    per = Counter((m.event.kind, m.channel, m.recipient) for m in msgs)
    assert set(per.values()) == {1}
    for kind in PAYLOADS:
        got = {(c, r) for (k, c, r) in per if k == kind}
        expected = {("email", "client@example.org"), ("letter", f"customer:{sp.customer_id}")}
        if kind != "activation_code_issued":
            # The code is the customer's alone and never goes by SMS.
            expected |= {
                ("sms", "+32470123456"),
                ("email", "as@cpas.example"),
                ("sms", "+32478112233"),
            }
        assert got == expected, kind
    for m in msgs:
        assert m.language == lang
        assert "%(" not in m.subject + m.body, (m.event.kind, m.channel)
        if m.channel != "sms":
            assert m.body.startswith(GREETING[lang]), (m.event.kind, m.body[:40])
        if m.channel != "sms":
            assert sp.customer_reference in m.body
    topup = [m for m in msgs if m.event.kind == "topup_received"]
    assert all(TOPUP_AMOUNT[lang] in m.body for m in topup)
    assert Event.objects.filter(handled_at__isnull=True).count() == 0


def test_texts_differ_per_language_for_every_kind(frozen, customer_sp):
    subjects: dict[str, set[str]] = {k: set() for k in PAYLOADS}
    for lang in LANGS:
        sp = customer_sp(language=lang)
        for kind, payload in PAYLOADS.items():
            publish(kind, sp.pk, f"{kind}:{lang}", payload)
    services.render_events()
    for m in Message.objects.select_related("event"):
        subjects[m.event.kind].add(m.subject)
    assert all(len(s) == 4 for s in subjects.values()), subjects


def test_rendering_again_creates_nothing_and_the_same_key_is_one_event(frozen, customer_sp):
    sp = customer_sp()
    publish("low_credit", sp.pk, "low:1", {"balance_cents": 800})
    assert services.render_events() == 1
    publish("low_credit", sp.pk, "low:1", {"balance_cents": 800})
    assert services.render_events() == 0
    Event.objects.update(handled_at=None)  # even a replay after a crash adds nothing
    services.render_events()
    assert Message.objects.count() == 1


def test_extra_recipients_get_the_alerts_in_their_language(frozen, customer_sp):
    sp = customer_sp(language="fr")
    services.add_recipient(sp.customer, name="Jan Peeters", email="jan@example.be", language="nl")
    publish("emergency_credit_engaged", sp.pk, "em:1", {"balance_cents": -310})
    services.render_events()
    jan = Message.objects.get(recipient="jan@example.be")
    assert jan.language == "nl"
    assert jan.body.startswith("Beste Jan Peeters")
    assert "Maurice Dupont" in jan.body  # says on whose behalf
    assert "€ -3,10" in jan.body
    own = Message.objects.get(recipient="client@example.org")
    assert own.language == "fr" and "-3,10 €" in own.body


def test_muted_optional_alert_is_not_sent_but_mandatory_ones_are(frozen, customer_sp):
    sp = customer_sp()
    services.set_contact_preferences(
        sp.customer, email=True, sms=False, letter=False, muted_kinds=["topup_received"]
    )
    publish("topup_received", sp.pk, "t:1", {"amount_cents": 500, "balance_cents": 700})
    publish("supply_interrupted", sp.pk, "s:1", {"balance_cents": -1300})
    services.render_events()
    assert [m.event.kind for m in Message.objects.all()] == ["supply_interrupted"]


def test_default_without_preferences_is_email_or_else_letter(frozen, make_supply_point):
    with_mail = make_supply_point()
    without = make_supply_point(email="")
    publish("low_credit", with_mail.pk, "l:1", {"balance_cents": 800})
    publish("low_credit", without.pk, "l:2", {"balance_cents": 800})
    services.render_events()
    got = {(m.customer_id, m.channel) for m in Message.objects.all()}
    assert got == {(with_mail.customer_id, "email"), (without.customer_id, "letter")}


def test_activation_code_with_reference_ogm_and_how_to_top_up_stored_masked(frozen, customer_sp):
    sp = customer_sp(by_email=True)
    publish("activation_code_issued", sp.pk, "code:1", {"code_sealed": seal("PP23456789")})
    services.render_events()
    (m,) = Message.objects.all()
    assert "PP23456789" not in m.body  # the stored body never holds the code
    for needed in (
        "PP••••••••",
        sp.customer_reference,
        sp.structured_communication,
        "https://monsolde.example",
        "J'ai un code d'activation",
    ):
        assert needed in m.body
    # Sealed on the event until the message is sent (tests/security/test_activation_codes.py).
    assert "PP23456789" not in str(Event.objects.get().payload)


def test_sms_only_customer_still_gets_what_to_do_on_paper(frozen, customer_sp):
    sp = customer_sp(by_email=False, by_sms=True)
    publish("activation_code_issued", sp.pk, "code:2", {"code_sealed": seal("PP23456789")})
    publish("supply_interrupted", sp.pk, "cut:1", {"balance_cents": -1300})
    services.render_events()
    got = sorted((m.event.kind, m.channel) for m in Message.objects.all())
    assert got == [("activation_code_issued", "letter"), ("supply_interrupted", "sms")]


def test_amounts_fall_back_to_the_current_balance(frozen, customer_sp):
    sp = customer_sp(language="en")
    publish("low_credit", sp.pk, "l:3", {})  # no balance in the payload
    services.render_events()
    assert "€0.00" in Message.objects.get().body


def test_interruption_coming_says_when_in_the_readers_language(frozen, customer_sp):
    sp = customer_sp(language="de")
    at = "2026-11-30T07:00:00+00:00"  # Monday 08:00 in Brussels
    publish("interruption_coming", sp.pk, "ic:1", {"balance_cents": -1200, "at": at})
    services.render_events()
    body = Message.objects.get().body
    assert "ab dem 30. November 2026 08:00 unterbrochen" in body
    assert "mindestens 12,00 € auf" in body
