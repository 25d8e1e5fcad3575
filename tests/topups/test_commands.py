"""`solde fake-provider` as a process, `solde topups reconcile`, the OpenAPI document."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from solde.topups import online
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fake_provider_command_serves_the_mollie_subset():
    port = free_port()
    solde = Path(sys.executable).with_name("solde")
    proc = subprocess.Popen(
        [str(solde), "fake-provider", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        url = f"http://127.0.0.1:{port}/v2/payments"
        for _ in range(300):  # Django starts in 1 s, or 10 under a loaded CI machine
            try:
                requests.get(url + "/tr_x", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert requests.get(url + "/tr_x", timeout=2).status_code == 401
        auth = {"Authorization": "Bearer test_abcdefghijklmnopqrstuvwxyz0123"}
        r = requests.post(
            url,
            json={
                "amount": {"currency": "EUR", "value": "10.00"},
                "description": "d",
                "redirectUrl": "http://x.test/",
            },
            headers=auth,
            timeout=2,
        )
        assert r.status_code == 201 and r.json()["status"] == "open"
        got = requests.get(f"{url}/{r.json()['id']}", headers=auth, timeout=2).json()
        assert got["amount"]["value"] == "10.00"
        assert requests.get(url + "/tr_unknown", headers=auth, timeout=2).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_reconcile_command_credits_a_paid_payment(active_sp, fake_provider, capsys):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://x.test/")
    fake_provider.set_status(p.provider_payment_id, "paid")
    call_command("topups", "reconcile")
    assert "credited 1" in capsys.readouterr().out
    assert balance(sp) == 3000


def test_openapi_documents_the_topup_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/topups", "/api/v1/topups/lookup", "/api/v1/topups/{topup_id}/cancel"):
        assert path in doc["paths"]
