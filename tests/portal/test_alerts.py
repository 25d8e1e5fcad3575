"""Mes alertes: thresholds saved through prepayment, contact parts guarded."""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from html import unescape

import pytest
from django.core.exceptions import ValidationError

from solde import clock
from solde.portal import contact


def test_alerts_page_shows_defaults(logged, active_sp):
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/alertes/").content.decode())
    assert "Mes alertes" in page and "Configuration" in page and "Historique" in page
    assert "sous 10,00\xa0€" in page and "moins de 3 jours" in page


def test_thresholds_are_saved(logged, active_sp):
    r = logged.post(
        f"/espace/ean/{active_sp.ean}/alertes/",
        {"action": "thresholds", "threshold": "7,50", "days": "5"},
    )
    assert r.status_code == 302
    active_sp.account.refresh_from_db()
    assert active_sp.account.low_credit_threshold_cents == 750
    assert active_sp.account.low_credit_days == 5
    page = unescape(logged.get(r.url).content.decode())
    assert "Vos seuils d'alerte sont enregistrés." in page
    assert 'value="7,50"' in page and 'value="5"' in page


def test_saving_a_threshold_reevaluates_low_credit(logged, active_sp):
    logged.post(
        f"/espace/ean/{active_sp.ean}/alertes/", {"action": "thresholds", "threshold": "20"}
    )
    active_sp.account.refresh_from_db()
    assert active_sp.account.low_credit  # 10 € balance < 20 €


def test_empty_fields_go_back_to_the_defaults(logged, active_sp):
    url = f"/espace/ean/{active_sp.ean}/alertes/"
    logged.post(url, {"action": "thresholds", "threshold": "5", "days": "2"})
    logged.post(url, {"action": "thresholds", "threshold": "", "days": ""})
    active_sp.account.refresh_from_db()
    assert active_sp.account.low_credit_threshold_cents is None
    assert active_sp.account.low_credit_days is None


@pytest.mark.parametrize(
    "data,error",
    [
        ({"threshold": "-1"}, "entre 0 et 250"),
        ({"threshold": "abc"}, "par exemple"),
        ({"days": "-1"}, "supérieure ou égale à 0"),
        ({"days": "x"}, "nombre entier"),
    ],
)
def test_bad_thresholds_are_explained(logged, active_sp, data, error):
    r = logged.post(f"/espace/ean/{active_sp.ean}/alertes/", {"action": "thresholds", **data})
    assert r.status_code == 200 and error in unescape(r.content.decode())
    active_sp.account.refresh_from_db()
    assert active_sp.account.low_credit_threshold_cents is None


def test_alert_history_page(logged, active_sp):
    r = logged.get(f"/espace/ean/{active_sp.ean}/alertes/historique/")
    assert r.status_code == 200


@dataclass
class Recipient:
    pk: int
    name: str
    email: str
    phone: str


@dataclass
class Sent:
    at: datetime
    kind_label: str
    channel_label: str
    recipient: str
    recipient_name: str
    status_label: str
    subject: str


@pytest.fixture
def fake_contact(monkeypatch):
    """The notifications app's contact services, faked to record the calls and refuse as they
    do; the portal's adapter (solde.portal.contact) is exercised for real."""
    from solde.notifications import services

    calls: list = []
    recipients: list[Recipient] = []

    def set_contact_preferences(customer, *, email, sms, letter, muted_kinds=()):
        if sms and not customer.phone:
            raise ValidationError({"sms": "Ajoutez d'abord votre numéro de GSM."})
        calls.append(("prefs", customer.pk, {"email": email, "sms": sms, "letter": letter}))
        if muted_kinds != ["advance_repaid"]:
            raise AssertionError(f"muted kinds lost: {muted_kinds}")

    def add_recipient(customer, *, name, email="", phone="", **kw):
        if len(recipients) >= 1:
            raise ValidationError({"__all__": "Retirez-en un avant d'en ajouter un autre."})
        calls.append(("add", customer.pk, {"name": name, "email": email, "phone": phone}))
        recipients.append(Recipient(len(recipients) + 1, name, email, phone))

    def remove_recipient(customer, recipient_id):
        calls.append(("remove", customer.pk, recipient_id))

    def history_for(customer, limit=100, ean=None):
        calls.append(("history", customer.pk, ean))
        return [
            Sent(
                clock.now(), "Solde bas", "SMS", "+32470123456", "", "Envoyé", "Votre solde est bas"
            )
        ]

    def contact_preferences(customer):
        return types.SimpleNamespace(
            email=True, sms=False, letter=False, muted_kinds=["advance_repaid"]
        )

    for f in (
        set_contact_preferences,
        add_recipient,
        remove_recipient,
        history_for,
        contact_preferences,
    ):
        monkeypatch.setattr(services, f.__name__, f)
    monkeypatch.setattr(contact, "recipients", lambda c: recipients)
    return types.SimpleNamespace(calls=calls, recipients=recipients)


def test_channels_and_recipients_go_to_the_notifications_services(logged, active_sp, fake_contact):
    url = f"/espace/ean/{active_sp.ean}/alertes/"
    cid = active_sp.customer_id
    assert 'name="channel-email" id="id_channel-email" checked' in logged.get(url).content.decode()
    r = logged.post(url, {"action": "channels", "channel-email": "on", "channel-letter": "on"})
    assert r.status_code == 302
    r = logged.post(
        url,
        {
            "action": "add_recipient",
            "recipient-name": "Assistante sociale",
            "recipient-email": "cpas@example.org",
            "recipient-phone": "",
        },
    )
    assert r.status_code == 302
    assert "Assistante sociale" in unescape(logged.get(url).content.decode())
    r = logged.post(url, {"action": "remove_recipient", "recipient": "1"})
    assert r.status_code == 302
    assert fake_contact.calls == [
        ("prefs", cid, {"email": True, "sms": False, "letter": True}),
        ("add", cid, {"name": "Assistante sociale", "email": "cpas@example.org", "phone": ""}),
        ("remove", cid, 1),
    ]


def test_service_refusals_show_on_the_form(logged, active_sp, fake_contact):
    active_sp.customer.phone = ""
    active_sp.customer.save(update_fields=["phone"])
    r = logged.post("/espace/contact/", {"action": "channels", "channel-sms": "on"})
    assert r.status_code == 200
    assert "Ajoutez d'abord votre numéro de GSM." in unescape(r.content.decode())
    logged.post(
        "/espace/contact/",
        {"action": "add_recipient", "recipient-name": "A", "recipient-email": "a@example.org"},
    )
    r = logged.post(
        "/espace/contact/",
        {"action": "add_recipient", "recipient-name": "B", "recipient-email": "b@example.org"},
    )
    assert r.status_code == 200
    assert "Retirez-en un avant d'en ajouter un autre." in unescape(r.content.decode())


def test_alert_history_lists_what_was_sent(logged, active_sp, fake_contact):
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/alertes/historique/").content.decode())
    assert "Solde bas" in page and "Votre solde est bas" in page and "+32470123456" in page
    assert ("history", active_sp.customer_id, active_sp.ean) in fake_contact.calls


def test_removing_someone_elses_recipient_is_not_found(logged, active_sp, fake_contact):
    r = logged.post(
        f"/espace/ean/{active_sp.ean}/alertes/", {"action": "remove_recipient", "recipient": "99"}
    )
    assert r.status_code == 404


def test_channels_need_at_least_one(logged, active_sp, fake_contact):
    r = logged.post("/espace/contact/", {"action": "channels"})
    assert r.status_code == 200 and "au moins un moyen" in unescape(r.content.decode())
    assert fake_contact.calls == []


def test_recipient_needs_an_address_or_a_phone(logged, active_sp, fake_contact):
    r = logged.post("/espace/contact/", {"action": "add_recipient", "recipient-name": "X"})
    assert "adresse e-mail ou un numéro" in unescape(r.content.decode())
