"""Secure by default: production refuses to start misconfigured, `check --deploy` is clean when
configured, HTTPS only in production, and a key rotation keeps API keys and activation codes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap

import pytest

PRODUCTION_ENV = {
    "SOLDE_SECRET_KEY": secrets.token_urlsafe(50),
    "SOLDE_HASH_KEY": secrets.token_urlsafe(50),
    "SOLDE_ALLOWED_HOSTS": "solde.example.org",
    "SOLDE_PAYMENT_PROVIDER": "mollie",
    "SOLDE_MOLLIE_API_KEY": "live_notarealkeyjustforthecheck000000",
    "SOLDE_HEADEND_URL": "mqtt://127.0.0.1:1883",
    "SOLDE_SMS_PROVIDER": "twilio",
    "SOLDE_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "SOLDE_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
    "SOLDE_TWILIO_FROM": "+32460000000",
}


def operator_env() -> dict[str, str]:
    """The environment without the test run's own SOLDE_* and DJANGO_* settings (the browser
    tests set DJANGO_ALLOW_ASYNC_UNSAFE, which `check --deploy` rightly refuses)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOLDE_", "DJANGO_"))}


def solde(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    """Run `solde …` as an operator would: production unless the environment opts out."""
    base = operator_env()
    base.update(SOLDE_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "solde", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_unconfigured(tmp_path):
    run = solde(["check"], {}, tmp_path)
    assert run.returncode != 0
    for code, words in {
        "solde.E001": "SOLDE_SECRET_KEY is not set",
        "solde.E002": "SOLDE_HASH_KEY is not set",
        "solde.E004": "payment provider is the local fake",
        "solde.E005": "SMS go to the local fake Twilio",
        "solde.E006": "in-process simulator",
    }.items():
        assert code in run.stderr and words in run.stderr, run.stderr
    assert "SOLDE_DEMO=1" in run.stderr  # the message says how to opt out


def test_production_refuses_debug(tmp_path):
    run = solde(["check"], {**PRODUCTION_ENV, "SOLDE_DEBUG": "1"}, tmp_path)
    assert run.returncode != 0 and "solde.E003" in run.stderr
    assert "solde.E001" not in run.stderr


def test_production_refuses_a_hash_key_equal_to_the_secret_key(tmp_path):
    env = {**PRODUCTION_ENV, "SOLDE_HASH_KEY": PRODUCTION_ENV["SOLDE_SECRET_KEY"]}
    run = solde(["check"], env, tmp_path)
    assert run.returncode != 0 and "solde.E002" in run.stderr


def test_check_deploy_is_clean_when_configured(tmp_path):
    run = solde(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    assert "no issues" in run.stdout


@pytest.mark.parametrize("opt_out", ["SOLDE_DEMO", "SOLDE_SIMULATION"])
def test_demo_and_simulation_start_without_configuration(tmp_path, opt_out):
    run = solde(["check"], {opt_out: "1"}, tmp_path)
    assert run.returncode == 0, run.stderr


HTTP_PROBE = textwrap.dedent(
    """
    import django, json
    django.setup()
    from django.test import Client
    out = {}
    c = Client(HTTP_HOST="solde.example.org")
    r = c.get("/login/")
    out["plain"] = [r.status_code, r.get("Location", "")]
    r = c.get("/healthz")
    out["healthz"] = r.status_code
    r = c.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.9")
    out["spoofed"] = r.status_code
    r = c.get("/healthz", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.1.2.3")
    out["proxied_hsts"] = r.get("Strict-Transport-Security", "")
    from django.conf import settings
    out["cookies"] = [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE]
    print(json.dumps(out))
    """
)


def test_production_redirects_to_https_and_believes_only_trusted_proxies(tmp_path):
    import json

    env = {**PRODUCTION_ENV, "SOLDE_TRUSTED_PROXIES": "10.0.0.0/8"}
    script = tmp_path / "probe.py"
    script.write_text(HTTP_PROBE)
    base = operator_env()
    base.update(env, SOLDE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="solde.settings")
    run = subprocess.run(
        [sys.executable, str(script)], env=base, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["plain"] == [301, "https://solde.example.org/login/"]
    assert out["healthz"] == 200  # probes are exempt from the redirect
    assert out["spoofed"] == 301  # X-Forwarded-Proto from a stranger is ignored
    assert out["proxied_hsts"].startswith("max-age=31536000")
    assert out["cookies"] == [True, True]


def test_local_instance_serves_plain_http_with_debug_off(client, settings):
    assert settings.DEBUG is False and settings.DEMO is True
    response = client.get("/login/")
    assert response.status_code == 200  # no redirect to https
    assert "Strict-Transport-Security" not in response


def test_every_page_carries_the_content_security_policy(client):
    csp = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


# --- Rotating keys ---------------------------------------------------------------------------


def test_rotating_the_secret_key_keeps_api_keys(db, client, settings):
    from solde.api.keys import create_key

    _, plaintext = create_key("dso-systems", ["read"])
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-" + "x" * 20
    settings.SECRET_KEY_FALLBACKS = []
    response = client.get("/api/v1/suppliers", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200, response.content


def test_rotating_the_hash_key_needs_its_fallback(db, client, settings):
    from solde.api.keys import create_key, find_key

    settings.HASH_KEY = "hash-key-one"
    settings.HASH_KEY_FALLBACKS = []
    key, plaintext = create_key("dso-systems", ["read"])
    settings.HASH_KEY = "hash-key-two"
    assert find_key(plaintext) is None  # the fallback is what keeps it
    settings.HASH_KEY_FALLBACKS = ["hash-key-one"]
    assert find_key(plaintext) == key
    # Keys made after the rotation use the new key.
    new, new_plain = create_key("after-rotation", ["read"])
    settings.HASH_KEY_FALLBACKS = []
    assert find_key(new_plain) == new and find_key(plaintext) is None


def test_rotating_the_hash_key_keeps_activation_codes_with_the_fallback(
    make_supply_point, settings
):
    from solde.portal.services import PortalError, find_code, issue_activation_code

    settings.HASH_KEY = "hash-key-one"
    sp = make_supply_point()
    code = issue_activation_code(sp)
    settings.HASH_KEY = "hash-key-two"
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-" + "y" * 20
    with pytest.raises(PortalError):
        find_code(code)
    settings.HASH_KEY_FALLBACKS = ["hash-key-one"]
    assert find_code(code).supply_point == sp


def test_solde_demo_is_a_local_instance_by_itself(monkeypatch):
    import django.core.management

    from solde import __main__ as entry

    ran = []
    monkeypatch.setattr(django.core.management, "execute_from_command_line", ran.append)
    for argv, demo in ((["solde", "demo"], "1"), (["solde", "runserver"], None)):
        monkeypatch.delenv("SOLDE_DEMO", raising=False)
        monkeypatch.setattr(sys, "argv", argv)
        entry.main()
        assert os.environ.get("SOLDE_DEMO") == demo
    assert ran == [["solde", "demo"], ["solde", "runserver"]]


def test_pages_without_csrf_protection_are_refused(settings):
    from solde.checks import CSRF_MIDDLEWARE, csrf_protection

    assert csrf_protection() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != CSRF_MIDDLEWARE]
    assert [e.id for e in csrf_protection()] == ["solde.E008"]
