"""Bots on the portal: guessing codes, locking people out, probing addresses, a mail server down."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client

from tests.codes import issued_code
from tests.conftest import on_postgres
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def code_of(sp) -> str:
    return issued_code(sp)


def details(email="jg.maurice@example.org"):
    return {
        "first_name": "Jean",
        "last_name": "Maurice",
        "email": email,
        "phone": "+32 470 12 34 56",
        "language": "fr",
    }


def test_wrong_passwords_from_one_address_do_not_lock_other_accounts(
    client,
    user,
    make_user,
    make_supply_point,
    activate,
    settings,
):
    other = make_user(activate(make_supply_point()), email="autre@example.org")
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        client.post("/login/", {"username": user.email, "password": "nope"})
    assert client.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 429
    # Same address, another account (an admin behind the same load balancer, a neighbour).
    r = client.post("/login/", {"username": other.email, "password": PASSWORD})
    assert r.status_code == 302 and r.url == "/espace/"


def test_sign_up_with_the_mail_server_down_is_not_a_server_error(
    client, active_sp, settings, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    client.raise_request_exception = False
    client.post("/activation/", {"code": code_of(active_sp)})
    r = client.post("/activation/donnees/", details())
    assert r.status_code == 302 and r.url == "/activation/envoye/"
    assert get_user_model().objects.filter(email="jg.maurice@example.org").exists()
    assert "could not be sent" in caplog.text
    # The page tells what to do when nothing arrives.
    assert "Mot de passe oublié" in client.get(r.url).content.decode()


def test_password_reset_is_throttled_per_address(client, user):
    for _ in range(8):
        r = client.post("/mot-de-passe/oublie/", {"email": user.email})
        assert r.status_code == 302
    assert len(mail.outbox) == 3


def test_password_reset_answers_known_and_unknown_addresses_alike(client, user, settings):
    settings.PORTAL_PROBE_SECONDS = 0.2
    answers = []
    for email in (user.email, "personne@example.org"):
        started = time.monotonic()
        r = client.post("/mot-de-passe/oublie/", {"email": email})
        answers.append((r.status_code, r.url, time.monotonic() - started >= 0.2))
    assert answers[0] == answers[1] == (302, "/mot-de-passe/envoye/", True)


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_codes_cannot_outrun_the_limit(monkeypatch):
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (the PostgreSQL pass of make test runs it)")
    from solde.portal import services

    checked = []
    real = services.find_code

    def counting(text):
        checked.append(text)
        return real(text)

    monkeypatch.setattr(services, "find_code", counting)
    start = threading.Barrier(30)
    answers: list[int] = []

    def guess(i: int) -> None:
        c = Client(REMOTE_ADDR="192.0.2.10")
        start.wait()
        try:
            answers.append(c.post("/activation/", {"code": f"PPAAAAAA{i:02d}"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every guess counted before it is judged: at most the limit are checked. All 30 may be
    # refused when every one is counted before any is judged (a busy machine): the door is
    # locked either way.
    assert len(answers) == 30 and set(answers) <= {200, 429}, answers
    assert len(checked) <= services.CODE_PER_ADDRESS.count
    late = Client(REMOTE_ADDR="192.0.2.10").post("/activation/", {"code": "PPAAAAAA99"})
    assert late.status_code == 429 and len(checked) <= services.CODE_PER_ADDRESS.count
