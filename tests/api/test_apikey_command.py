"""`solde apikey create / list / revoke` and the ApiKey admin."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from solde.api.keys import find_key
from solde.api.models import ApiKey


def run(*args: str) -> str:
    out = StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_key_once_and_it_works(db, client):
    out = run("create", "dso-sync", "--scope", "registry", "--scope", "read")
    key = re.search(r"solde_\S+", out).group(0)
    stored = ApiKey.objects.get(name="dso-sync")
    assert stored.scopes == ["read", "registry"]
    assert key not in stored.key_hash and find_key(key) == stored
    r = client.get("/api/v1/suppliers", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.status_code == 200

    listing = run("list")
    assert "dso-sync" in listing and "read,registry" in listing and key not in listing


def test_unknown_scope_and_duplicate_name_are_refused(db):
    with pytest.raises(CommandError, match="choose from"):
        run("create", "x", "--scope", "everything")
    run("create", "x", "--scope", "read")
    with pytest.raises(CommandError, match="exists already"):
        run("create", "x", "--scope", "read")
    assert ApiKey.objects.count() == 1


def test_revoke_stops_the_key(db, client):
    key = re.search(r"solde_\S+", run("create", "old", "--scope", "read")).group(0)
    assert "revoked" in run("revoke", "old")
    assert find_key(key) is None
    r = client.get("/api/v1/suppliers", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.status_code == 401
    assert "already revoked" in run("revoke", "old")
    with pytest.raises(CommandError, match="No API key named"):
        run("revoke", "nobody")


def test_admin_revoke_action_and_no_key_shown(admin_client, db):
    key = re.search(r"solde_\S+", run("create", "partner", "--scope", "topups")).group(0)
    stored = ApiKey.objects.get()
    page = admin_client.get("/admin/api/apikey/")
    assert page.status_code == 200 and b"partner" in page.content
    assert key.encode() not in page.content and stored.key_hash.encode() not in page.content
    detail = admin_client.get(f"/admin/api/apikey/{stored.pk}/change/")
    assert detail.status_code == 200 and stored.key_hash.encode() not in detail.content
    r = admin_client.post(
        "/admin/api/apikey/", {"action": "revoke", "_selected_action": [stored.pk]}
    )
    assert r.status_code == 302
    assert find_key(key) is None
