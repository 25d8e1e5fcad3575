"""Onboarding: code → personal data → "Créer mon compte" → e-mail link → password → login."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from django.contrib.auth import get_user_model
from django.core import mail

from solde import clock
from solde.models import Attempt
from tests.codes import issued_code

from .conftest import PASSWORD


def code_of(sp) -> str:
    return issued_code(sp)


def details(**over):
    data = {
        "first_name": "Jean-Guillaume",
        "last_name": "Maurice",
        "email": "JG.Maurice@Example.org",
        "phone": "+32 470 12 34 56",
        "language": "fr",
    }
    return data | over


def test_the_whole_onboarding(client, active_sp):
    page = client.get("/activation/")
    assert "Introduisez votre code" in unescape(page.content.decode())
    r = client.post("/activation/", {"code": code_of(active_sp).lower()})
    assert r.status_code == 302 and r.url == "/activation/donnees/"

    page = unescape(client.get("/activation/donnees/").content.decode())
    assert active_sp.ean in page and "Maurice" in page and "Créer mon compte" in page
    r = client.post("/activation/donnees/", details())
    assert r.status_code == 302 and r.url == "/activation/envoye/"
    assert "jg.maurice@example.org" in unescape(client.get(r.url).content.decode())

    active_sp.customer.refresh_from_db()
    customer = active_sp.customer
    assert (customer.first_name, customer.email) == ("Jean-Guillaume", "jg.maurice@example.org")
    assert customer.phone == "+32 470 12 34 56"
    user = customer.user
    assert user.username == "jg.maurice@example.org" and not user.has_usable_password()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jg.maurice@example.org"]
    link = re.search(r"http://testserver(/activation/mot-de-passe/\S+/)", message.body).group(1)
    html, mimetype = message.alternatives[0]  # the same e-mail as HTML, its link clickable
    assert mimetype == "text/html" and f'href="http://testserver{link}"' in html
    r = client.get(link, follow=True)
    assert "Choisissez votre mot de passe" in unescape(r.content.decode())
    r = client.post(r.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert r.status_code == 302 and r.url == "/activation/pret/"
    # The link works once.
    assert "plus valable" in unescape(client.get(link, follow=True).content.decode())

    r = client.post("/login/", {"username": "JG.MAURICE@example.org", "password": PASSWORD})
    assert r.status_code == 302 and r.url == "/espace/"
    assert active_sp.ean in unescape(client.get("/espace/").content.decode())


def test_confirmation_email_in_the_chosen_language(client, active_sp):
    client.post("/activation/", {"code": code_of(active_sp)})
    client.post("/activation/donnees/", details(language="nl"))
    assert mail.outbox[0].subject == "Solde: kies uw wachtwoord"


def test_details_without_a_code_go_back_to_the_code(client, active_sp):
    r = client.get("/activation/donnees/")
    assert r.status_code == 302 and r.url == "/activation/"


def test_wrong_code_says_what_to_do(client, active_sp):
    r = client.post("/activation/", {"code": "PP-2345-6789"})
    assert r.status_code == 200
    assert "Ce code d'activation n'existe pas" in unescape(r.content.decode())


def test_used_code_says_so(client, active_sp):
    code = code_of(active_sp)
    client.post("/activation/", {"code": code})
    client.post("/activation/donnees/", details())
    client.session.flush()
    r = client.post("/activation/", {"code": code})
    assert "déjà été utilisé" in unescape(r.content.decode())


def test_expired_code_says_so(client, active_sp):
    clock.advance(timedelta(days=61))
    r = client.post("/activation/", {"code": code_of(active_sp)})
    assert "a expiré" in unescape(r.content.decode())


def test_wrong_codes_lock_code_entry(client, active_sp, settings):
    for _ in range(5):
        client.post("/activation/", {"code": "PPAAAAAAAA"})
    r = client.post("/activation/", {"code": code_of(active_sp)})
    assert r.status_code == 429
    assert "Trop de codes incorrects" in unescape(r.content.decode())
    # Even the right code is refused while locked; nothing was used.
    assert get_user_model().objects.count() == 0
    # A new session from the same IP is still locked.
    client.cookies.clear()
    assert client.post("/activation/", {"code": code_of(active_sp)}).status_code == 429
    # After the lockout window it works again.
    clock.advance(timedelta(minutes=31))
    r = client.post("/activation/", {"code": code_of(active_sp)})
    assert r.status_code == 302


def test_an_email_already_in_use_is_not_revealed_and_its_owner_is_told(client, active_sp, other_sp):
    client.post("/activation/", {"code": code_of(active_sp)})
    r = client.post("/activation/donnees/", details(email="AUTRE@example.org"))
    # The same answer as a successful sign-up; the code stays usable for its owner.
    assert r.status_code == 302 and r.url == "/activation/envoye/"
    assert "déjà utilisée" not in unescape(client.get(r.url).content.decode())
    assert [m.to for m in mail.outbox] == [["autre@example.org"]]
    assert "déjà un compte" in mail.outbox[0].subject
    assert active_sp.customer.user_id is None
    from solde.portal.models import ActivationCode

    assert ActivationCode.objects.get(supply_point=active_sp).used_at is None


def test_invalid_personal_data_is_explained(client, active_sp):
    client.post("/activation/", {"code": code_of(active_sp)})
    r = client.post("/activation/donnees/", details(email="pas-une-adresse", phone="abc"))
    page = unescape(r.content.decode())
    assert r.status_code == 200
    assert "adresse électronique valide" in page or "adresse e-mail" in page
    assert "numéro de téléphone n'est pas valable" in page


def test_logged_in_customer_adds_another_ean_with_its_code(
    logged, active_sp, make_supply_point, activate
):
    second = activate(make_supply_point(energy="gas"))
    r = logged.post("/activation/", {"code": code_of(second)})
    assert r.status_code == 302 and r.url == "/espace/"
    second.refresh_from_db()
    assert second.customer_id == active_sp.customer_id
    assert second.ean in unescape(logged.get("/espace/").content.decode())


def test_lost_confirmation_email_is_resent_through_password_reset(client, active_sp):
    client.post("/activation/", {"code": code_of(active_sp)})
    client.post("/activation/donnees/", details())
    r = client.post("/mot-de-passe/oublie/", {"email": "jg.maurice@example.org"})
    assert r.status_code == 302 and len(mail.outbox) == 2
    link = re.search(r"http://testserver(/mot-de-passe/\S+/)", mail.outbox[1].body).group(1)
    r = client.get(link, follow=True)
    r = client.post(r.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert r.status_code == 302
    r = client.post("/login/", {"username": "jg.maurice@example.org", "password": PASSWORD})
    assert r.status_code == 302 and r.url == "/espace/"


def test_old_code_attempts_are_forgotten(client, active_sp):
    for _ in range(3):
        client.post("/activation/", {"code": "PPAAAAAAAA"})
    clock.advance(timedelta(days=2))
    client.post("/activation/", {"code": "PPAAAAAAAA"})
    # One attempt per limit it counts against (address, session, the whole platform).
    assert Attempt.objects.count() == 3
