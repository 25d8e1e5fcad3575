"""The customer's space: dashboard, balance, security (own EANs only, CSRF), languages."""

from __future__ import annotations

from html import unescape

import pytest
from django.db import transaction
from django.test import Client

from solde.ledger.services import collections_account
from solde.prepayment.services import credit


def topup(sp, cents, key="t1"):
    with transaction.atomic():
        credit(
            sp.account,
            cents,
            key=key,
            kind="topup",
            counter_account_id=collections_account("online").pk,
        )


def test_dashboard_shows_address_meter_and_banner(logged, active_sp):
    page = unescape(logged.get("/espace/").content.decode())
    assert "Mes EAN" in page and "Rue Paradis 62, 4000 Liège" in page
    assert active_sp.ean in page and active_sp.meters.get().serial in page
    assert "Compteur électrique" in page
    assert "Prépaiement activé" in page and "Marquer comme lu" in page


def test_mark_as_read_hides_the_banner(logged, active_sp):
    r = logged.post("/espace/lu/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r.content == b""
    assert "Prépaiement activé" not in unescape(logged.get("/espace/").content.decode())


def test_balance_page_in_plain_words(logged, active_sp):
    topup(active_sp, 2550)
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/").content.decode())
    assert "35,50\xa0€" in page  # 10 € advance + 25,50 € top-up
    assert "Crédit de secours restant" in page and "12,00\xa0€" in page
    assert "Avance de départ à rembourser" in page and "10,00\xa0€" in page
    assert "Votre alimentation est normale." in page
    assert "Actualiser les données" in page and "Dernière mise à jour du solde" in page


def test_refresh_returns_the_balance_block(logged, active_sp):
    url = f"/espace/ean/{active_sp.ean}/solde/"
    topup(active_sp, 500)
    r = logged.get(url, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = unescape(r.content.decode())
    assert 'id="balance-panel"' in html and "15,00\xa0€" in html and "<html" not in html


def test_ready_for_reconnection_tells_to_press_the_green_button(logged, active_sp):
    active_sp.account.supply = "ready_for_reconnection"
    active_sp.account.save(update_fields=["supply"])
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/").content.decode())
    assert "appuyez sur le bouton vert de votre compteur" in page


def test_emergency_credit_in_plain_words(logged, active_sp):
    topup(active_sp, -1500, key="debit")  # balance −5 €
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/").content.decode())
    assert "Vous utilisez votre crédit de secours" in page
    assert "-5,00\xa0€" in page and "7,00\xa0€" in page


def test_one_ean_nav_goes_straight_to_it(logged, active_sp):
    r = logged.get("/espace/choisir/balance/")
    assert r.status_code == 302 and r.url == f"/espace/ean/{active_sp.ean}/"


def test_two_eans_nav_lets_choose(logged, active_sp, make_supply_point, activate):
    gas = activate(make_supply_point(energy="gas"))
    gas.customer = active_sp.customer
    gas.save(update_fields=["customer"])
    page = unescape(logged.get("/espace/choisir/topup/").content.decode())
    assert f"/espace/ean/{gas.ean}/recharger/" in page
    assert f"/espace/ean/{active_sp.ean}/recharger/" in page


EAN_URLS = [
    "",
    "solde/",
    "recharger/",
    "recharger/retour/",
    "historique/",
    "historique/?format=csv",
    "consommation/",
    "alertes/",
    "alertes/historique/",
]


@pytest.mark.parametrize("suffix", EAN_URLS)
def test_another_customers_ean_is_not_found(logged, active_sp, other_sp, suffix):
    assert logged.get(f"/espace/ean/{other_sp.ean}/{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", ["recharger/", "alertes/"])
def test_posting_to_another_customers_ean_is_not_found(logged, other_sp, suffix):
    r = logged.post(
        f"/espace/ean/{other_sp.ean}/{suffix}",
        {"action": "thresholds", "threshold": "1", "amount": "20", "method": "bancontact"},
    )
    assert r.status_code == 404
    other_sp.account.refresh_from_db()
    assert other_sp.account.low_credit_threshold_cents is None


def test_unknown_section_is_not_found(logged, active_sp):
    assert logged.get("/espace/choisir/secret/").status_code == 404


def test_staff_without_customer_gets_a_plain_page(client, db):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("ops@example.org", "ops@example.org", "x")
    client.force_login(staff)
    r = client.get("/espace/")
    assert r.status_code == 403 and "Aucun compteur" in unescape(r.content.decode())


CSRF_FORMS = [
    ("/espace/lu/", {}),
    (
        "/espace/profil/",
        {"first_name": "A", "last_name": "B", "email": "a@example.org", "language": "fr"},
    ),
    ("/espace/contact/", {"action": "channels", "channel-email": "on"}),
    ("/espace/ean/{ean}/recharger/", {"amount": "20", "method": "bancontact"}),
    ("/espace/ean/{ean}/alertes/", {"action": "thresholds", "threshold": "5"}),
    ("/logout/", {}),
    ("/i18n/setlang/", {"language": "nl"}),
]


@pytest.mark.parametrize("url,data", CSRF_FORMS)
def test_every_form_needs_the_csrf_token(user, active_sp, url, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    r = client.post(url.format(ean=active_sp.ean), data)
    assert r.status_code == 403


@pytest.mark.parametrize(
    "url,data",
    [
        ("/login/", {"username": "a@example.org", "password": "x"}),
        ("/activation/", {"code": "PPAAAAAAAA"}),
        ("/mot-de-passe/oublie/", {"email": "a@example.org"}),
    ],
)
def test_anonymous_forms_need_the_csrf_token(db, url, data):
    assert Client(enforce_csrf_checks=True).post(url, data).status_code == 403


def test_a_form_with_its_token_passes_csrf(user, active_sp):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(f"/espace/ean/{active_sp.ean}/alertes/")
    token = (
        page.cookies["csrftoken"].value
        if "csrftoken" in page.cookies
        else client.cookies["csrftoken"].value
    )
    r = client.post(
        f"/espace/ean/{active_sp.ean}/alertes/",
        {"action": "thresholds", "threshold": "5", "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 302


@pytest.mark.parametrize(
    "lang,text",
    [("nl", "Mijn saldo"), ("de", "Mein Guthaben"), ("en", "My balance"), ("fr", "Mon solde")],
)
def test_language_switch(logged, active_sp, lang, text):
    r = logged.post("/i18n/setlang/", {"language": lang, "next": "/espace/"})
    assert r.status_code == 302
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/").content.decode())
    assert text in page
    assert f'<html lang="{lang}">' in page


def test_profile_corrects_data_and_login(logged, active_sp, user):
    r = logged.post(
        "/espace/profil/",
        {
            "first_name": "Jean",
            "last_name": "Maurice",
            "email": "Nouveau@example.org",
            "phone": "",
            "language": "de",
        },
    )
    assert r.status_code == 302
    user.refresh_from_db()
    active_sp.customer.refresh_from_db()
    assert user.username == "nouveau@example.org" == active_sp.customer.email
    assert active_sp.customer.language == "de"


def test_profile_refuses_another_accounts_email(logged, other_sp):
    r = logged.post(
        "/espace/profil/",
        {
            "first_name": "Jean",
            "last_name": "Maurice",
            "email": "autre@example.org",
            "language": "fr",
        },
    )
    assert r.status_code == 200 and "déjà utilisée" in unescape(r.content.decode())


def test_not_found_page_leads_back(logged, other_sp):
    r = logged.get(f"/espace/ean/{other_sp.ean}/")
    assert r.status_code == 404
    page = unescape(r.content.decode())
    assert "Page introuvable" in page and "Retour à mon espace" in page
    assert "Solde disponible" not in page


def test_csrf_failure_page_says_what_to_do(user, active_sp):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    r = client.post("/espace/lu/")
    assert r.status_code == 403 and "Rechargez la page" in unescape(r.content.decode())
