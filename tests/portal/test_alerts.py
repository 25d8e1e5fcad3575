"""Mes alertes: thresholds saved through prepayment, contact parts guarded."""

from __future__ import annotations

from html import unescape

import pytest

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


class FakeContact:
    def __init__(self):
        self.calls = []
        self.recipients = []


@pytest.fixture
def fake_contact(monkeypatch):
    """The notifications contact services, faked through the portal's adapter."""
    fake = FakeContact()

    class Recipient:
        def __init__(self, pk, name, email, phone):
            self.pk, self.name, self.email, self.phone = pk, name, email, phone

    monkeypatch.setattr(contact, "available", lambda: True)
    monkeypatch.setattr(
        contact, "preferences", lambda c: {"email": True, "sms": False, "letter": False}
    )
    monkeypatch.setattr(
        contact, "set_preferences", lambda c, **kw: fake.calls.append(("prefs", c.pk, kw))
    )
    monkeypatch.setattr(contact, "recipients", lambda c: fake.recipients)

    def add(c, **kw):
        fake.calls.append(("add", c.pk, kw))
        fake.recipients.append(Recipient(len(fake.recipients) + 1, **kw))

    monkeypatch.setattr(contact, "add_recipient", add)
    monkeypatch.setattr(
        contact, "remove_recipient", lambda c, rid: fake.calls.append(("remove", c.pk, rid))
    )
    monkeypatch.setattr(contact, "history", lambda c, supply_point=None: [])
    return fake


def test_channels_and_recipients_go_to_the_notifications_services(logged, active_sp, fake_contact):
    url = f"/espace/ean/{active_sp.ean}/alertes/"
    cid = active_sp.customer_id
    r = logged.post(url, {"action": "channels", "email": "on", "sms": "on"})
    assert r.status_code == 302
    r = logged.post(
        url,
        {
            "action": "add_recipient",
            "name": "Assistante sociale",
            "email": "cpas@example.org",
            "phone": "",
        },
    )
    assert r.status_code == 302
    assert "Assistante sociale" in unescape(logged.get(url).content.decode())
    r = logged.post(url, {"action": "remove_recipient", "recipient": "1"})
    assert r.status_code == 302
    assert fake_contact.calls == [
        ("prefs", cid, {"email": True, "sms": True, "letter": False}),
        ("add", cid, {"name": "Assistante sociale", "email": "cpas@example.org", "phone": ""}),
        ("remove", cid, 1),
    ]


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
    r = logged.post("/espace/contact/", {"action": "add_recipient", "name": "X"})
    assert "adresse e-mail ou un numéro" in unescape(r.content.decode())
