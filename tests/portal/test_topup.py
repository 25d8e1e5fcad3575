"""Top-up pages against the online top-up service (solde.topups.online, faked here)."""

from __future__ import annotations

from html import unescape

import pytest

URL = "/espace/ean/{ean}/recharger/"


def test_topup_page_offers_methods_amounts_and_other_channels(logged, active_sp, fake_online):
    page = unescape(logged.get(URL.format(ean=active_sp.ean)).content.decode())
    assert "Nouveau paiement" in page and "Bancontact" in page and "Payer" in page
    assert "Se souvenir de mes coordonnées bancaires" in page
    assert active_sp.customer_reference in page and active_sp.structured_communication in page


def test_pay_redirects_to_the_provider_then_confirms(logged, active_sp, fake_online):
    r = logged.post(
        URL.format(ean=active_sp.ean), {"method": "bancontact", "amount": "20,50", "remember": "on"}
    )
    assert r.status_code == 302 and r.url == "https://pay.example.test/checkout/1"
    payment = fake_online.payments[1]
    assert (payment.amount_cents, payment.method, payment.remember) == (2050, "bancontact", True)
    assert payment.account_id == active_sp.account.pk
    assert payment.return_url == f"http://testserver/espace/ean/{active_sp.ean}/recharger/retour/"

    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/recharger/retour/").content.decode())
    assert "Votre paiement est reçu" in page
    assert "30,50\xa0€" in page  # 10 € advance + 20,50 €
    history = unescape(logged.get(f"/espace/ean/{active_sp.ean}/historique/").content.decode())
    assert "Recharge" in history and "+20,50\xa0€" in history


def test_failed_payment_says_nothing_was_taken(logged, active_sp, fake_online):
    fake_online.outcome = "failed"
    logged.post(URL.format(ean=active_sp.ean), {"method": "creditcard", "amount": "10"})
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/recharger/retour/").content.decode())
    assert "rien n'a été débité" in page and "10,00\xa0€" in page


def test_open_payment_says_to_refresh(logged, active_sp, fake_online):
    fake_online.outcome = "open"
    logged.post(URL.format(ean=active_sp.ean), {"method": "bancontact", "amount": "10"})
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/recharger/retour/").content.decode())
    assert "en cours de traitement" in page


@pytest.mark.parametrize(
    "amount,error",
    [
        ("4,99", "entre 5 et 250"),
        ("250,01", "entre 5 et 250"),
        ("abc", "par exemple"),
        ("12,345", "par exemple"),
        ("", "obligatoire"),
    ],
)
def test_amount_is_validated(logged, active_sp, fake_online, amount, error):
    r = logged.post(URL.format(ean=active_sp.ean), {"method": "bancontact", "amount": amount})
    assert r.status_code == 200
    assert error in unescape(r.content.decode())
    assert fake_online.payments == {}


@pytest.mark.parametrize("amount,cents", [("5", 500), ("250", 25000), ("12.5", 1250)])
def test_amount_bounds_accepted(logged, active_sp, fake_online, amount, cents):
    logged.post(URL.format(ean=active_sp.ean), {"method": "bancontact", "amount": amount})
    assert fake_online.payments[1].amount_cents == cents


def test_another_sessions_payment_is_not_shown(logged, active_sp, other_sp, fake_online, client):
    from django.test import Client

    other = Client()
    other.force_login(other_sp.customer.user)
    other.post(URL.format(ean=other_sp.ean), {"method": "bancontact", "amount": "10"})
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/recharger/retour/").content.decode())
    assert "Nous ne trouvons pas de paiement" in page


def test_pending_account_cannot_pay_online_yet(
    client, make_supply_point, make_user, frozen, fake_online
):
    sp = make_supply_point()
    client.force_login(make_user(sp))
    page = unescape(client.get(URL.format(ean=sp.ean)).content.decode())
    assert "dès que votre prépaiement sera actif" in page
    client.post(URL.format(ean=sp.ean), {"method": "bancontact", "amount": "10"})
    assert fake_online.payments == {}
