"""Login (the e-mail is the login), lockout by django-axes, logout, password reset."""

from __future__ import annotations

import re
from html import unescape

from django.core import mail

from .conftest import PASSWORD


def test_home_offers_login_and_activation_code(client, db):
    page = unescape(client.get("/").content.decode())
    assert "Se connecter" in page and "J'ai un code d'activation" in page


def test_login_with_the_email_in_any_case(client, user):
    r = client.post("/login/", {"username": user.email.upper(), "password": PASSWORD})
    assert r.status_code == 302 and r.url == "/espace/"


def test_wrong_password_says_what_to_do(client, user):
    r = client.post("/login/", {"username": user.email, "password": "nope"})
    assert r.status_code == 200
    assert "Mot de passe oublié" in unescape(r.content.decode())
    assert "incorrect" in unescape(r.content.decode())


def test_repeated_wrong_passwords_lock_the_login(client, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": user.email, "password": "nope"})
    r = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert r.status_code == 429
    assert "Trop d'essais" in unescape(r.content.decode())


def test_logout_is_a_post(logged):
    r = logged.post("/logout/")
    assert r.status_code == 302 and r.url == "/"
    assert logged.get("/espace/").status_code == 302


def test_space_needs_login(client, active_sp):
    for url in ["/espace/", f"/espace/ean/{active_sp.ean}/", "/espace/profil/"]:
        r = client.get(url)
        assert r.status_code == 302 and r.url.startswith("/login/?next=")


def test_password_reset_by_email(client, user):
    r = client.post("/mot-de-passe/oublie/", {"email": user.email})
    assert r.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/mot-de-passe/\S+/)", mail.outbox[0].body).group(1)
    r = client.get(link, follow=True)
    new = "Un-autre-mot-2026"
    r = client.post(r.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert r.status_code == 302
    r = client.post("/login/", {"username": user.email, "password": new})
    assert r.status_code == 302 and r.url == "/espace/"


def test_password_reset_for_unknown_address_reveals_nothing(client, db):
    r = client.post("/mot-de-passe/oublie/", {"email": "personne@example.org"})
    assert r.status_code == 302 and len(mail.outbox) == 0


def test_login_takes_the_customers_saved_language(client, user):
    user.customer.language = "nl"
    user.customer.save()
    # The visitor browsed the login page in French (default, or picked).
    assert "Se connecter" in unescape(client.get("/login/").content.decode())
    r = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert r.status_code == 302 and r.cookies["django_language"].value == "nl"
    page = client.get(r.url)
    assert page.headers["Content-Language"] == "nl"
    assert '<html lang="nl"' in page.content.decode()


def test_login_of_a_german_speaker_after_an_english_page(client, user):
    user.customer.language = "de"
    user.customer.save()
    client.cookies["django_language"] = "en"
    r = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert r.cookies["django_language"].value == "de"
    assert client.get("/espace/").headers["Content-Language"] == "de"


def test_password_reset_mail_is_text_and_html_in_the_customers_language(client, user):
    user.customer.language = "de"
    user.customer.save()
    client.post("/mot-de-passe/oublie/", {"email": user.email})
    (message,) = mail.outbox
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and '<html lang="de">' in html
    link = re.search(r"http://testserver/mot-de-passe/\S+/", message.body).group(0)
    assert f'href="{link}"' in html
    assert "Passwort" in message.subject + message.body
