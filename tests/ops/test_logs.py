"""Structured logs: JSON lines with a request id, and no API key, password, activation code or
full IBAN in any line — even with every logger, SQL included, at DEBUG."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import connection

from solde.logs import JsonFormatter, redact
from tests.codes import issued_code
from tests.portal.conftest import PASSWORD, activate, active_sp, make_user, user  # noqa: F401
from tests.topups.test_bank import entry, statement

DEBTOR_IBAN = "BE71096123456769"  # in tests.topups.test_bank's statements
OWN_IBAN = "BE68539007547034"


@pytest.fixture
def log_lines(settings):
    """Everything the configured console handler writes, as JSON, with all loggers at DEBUG."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.name == "console")
    buffer = io.StringIO()
    old_stream, old_formatter, old_level = handler.stream, handler.formatter, root.level
    handler.setStream(buffer)
    handler.setFormatter(JsonFormatter())
    root.setLevel(logging.DEBUG)
    names = ("solde", "solde.access", "django", "django.db.backends", "axes")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # every SQL statement with its parameters
    try:
        yield buffer
    finally:
        connection.force_debug_cursor = False
        handler.setStream(old_stream)
        handler.setFormatter(old_formatter)
        root.setLevel(old_level)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def test_no_secret_reaches_a_log_line(client, user, active_sp, api_key, log_lines):  # noqa: F811

    key = api_key("read")
    code = issued_code(active_sp)
    # A login (right and wrong password), an API call with a key and with a revoked-looking one.
    client.post("/login/", {"username": user.email, "password": "Wrong-" + PASSWORD})
    client.post("/login/", {"username": user.email, "password": PASSWORD})
    client.post("/logout/")
    assert client.get("/api/v1/suppliers", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert client.get("/api/v1/suppliers", HTTP_AUTHORIZATION=f"Bearer {key}x").status_code == 401
    # An activation: the code typed in the portal.
    r = client.post("/activation/", {"code": code}, HTTP_X_REQUEST_ID="probe-request-0001")
    assert r.status_code == 302
    # A bank import carrying IBANs.
    from solde.topups import bank

    bank.import_statement(
        statement(entry("R9", "40.00", ogm=active_sp.structured_communication.strip("+")))
    )
    # And code that logs secrets by mistake.
    logging.getLogger("solde.careless").warning(
        "key=%s password=%s code %s from %s (%s) auth Bearer %s",
        key,
        PASSWORD,
        code,
        DEBTOR_IBAN,
        spaced(OWN_IBAN),
        key,
    )

    text = log_lines.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 50  # SQL included: the secrets were there to be caught
    secret_part = key.split("_", 2)[2]
    for secret in (secret_part, PASSWORD, code, DEBTOR_IBAN, OWN_IBAN, spaced(OWN_IBAN)):
        assert secret not in text, secret
    assert code.lower() not in text.lower()
    # What stays is enough to investigate: the key's prefix, the IBAN's country and last digits.
    careless = next(ln for ln in lines if ln["logger"] == "solde.careless")
    assert careless["message"].startswith(f"key={REDACTED_KEY(key)} password=[REDACTED]")
    assert "BE**…6769" in careless["message"] and "BE**…7034" in careless["message"]
    assert any("BE**…6769" in ln["message"] for ln in lines if ln["logger"] != "solde.careless")
    # Every request's lines carry its id; a sane X-Request-ID from the caller is kept.
    access = [ln for ln in lines if ln["logger"] == "solde.access"]
    assert len(access) == 6
    assert all(len(ln["request_id"]) >= 8 for ln in access)
    assert any(ln["request_id"] == "probe-request-0001" for ln in access)
    assert {ln["status"] for ln in access} >= {200, 302, 401}


def REDACTED_KEY(key: str) -> str:  # noqa: N802
    return key.rsplit("_", 1)[0].split("_", 2)[0] + "_" + key.split("_")[1] + "_[REDACTED]"


def test_a_hostile_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nFAKE LOG LINE")
    assert response["X-Request-ID"] != "bad id\nFAKE LOG LINE"
    assert len(response["X-Request-ID"]) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e")["X-Request-ID"] == (
        "lb-7f3a9c2e"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("solde_0a1b2c3d_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg", "solde_0a1b2c3d_[REDACTED]"),
        ('{"password": "hunter2", "x": 1}', '{"password": [REDACTED], "x": 1}'),
        ("new_password1=Abc&next=/", "new_password1=[REDACTED]&next=/"),
        ("code PP23456789 entered", "code PP******** entered"),
        ("from BE71 0961 2345 6769 ok", "from BE**…6769 ok"),
        ("not an iban BE00000000000000", "not an iban BE00000000000000"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [REDACTED]"),
        ("EAN 541448800000000017 and +++090/9337/55493+++", None),
    ],
)
def test_redact(text, expected):
    assert redact(text) == (text if expected is None else expected)
