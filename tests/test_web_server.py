"""The production web server (`solde serve`) under 200 concurrent API requests on PostgreSQL:
no 500, every top-up answered 201 is credited once, and the server holds no more database
connections than its workers' pools allow (psycopg pool: SOLDE_DB_POOL_MAX per process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection, transaction

from solde import clock
from tests.conftest import on_postgres

BIN = Path(sys.executable).parent
WORKERS, POOL_MAX, REQUESTS = 3, 2, 200
# Generous: on a loaded 2-core machine the burst can take tens of seconds; a request waiting
# for a pooled connection must wait, not fail.
TIMEOUT = 90
APP = "solde-serve-pool-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db_url() -> str:
    d = connection.settings_dict
    auth = d["USER"] + (f":{d['PASSWORD']}" if d["PASSWORD"] else "")
    return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_api_requests_through_solde_serve_no_500_connections_bounded(
    make_supply_point, api_key
):
    if not on_postgres():
        pytest.skip("runs in the PostgreSQL pass (mandatory in CI)")
    from solde.api.keys import create_key
    from solde.ledger.models import LedgerAccount
    from solde.prepayment.services import activate
    from solde.topups.models import Partner, Topup

    sps = [make_supply_point() for _ in range(20)]
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=1) for sp in sps})
    read = api_key("read")
    key, shop = create_key("pool-shop", ["topups"])
    Partner.objects.create(name="Pool shop", channel="retail", api_key=key)
    before = {
        sp.pk: LedgerAccount.objects.get(pk=sp.account.balance_account_id).balance_cents
        for sp in sps
    }

    port = _free_port()
    env = {
        **os.environ,
        "SOLDE_DATABASE_URL": _db_url(),
        "SOLDE_SECRET_KEY": settings.SECRET_KEY,  # the keys' hashes are keyed with it
        "SOLDE_SIMULATION": "1",
        "SOLDE_DEBUG": "0",
        "SOLDE_DB_POOL_MIN": "1",
        "SOLDE_DB_POOL_MAX": str(POOL_MAX),
        "SOLDE_DB_POOL_TIMEOUT": str(TIMEOUT),
        "PGAPPNAME": APP,  # libpq: tells the server's connections apart from the test's
        "SOLDE_HEADEND_URL": "inprocess",
    }
    server = subprocess.Popen(
        [str(BIN / "solde"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
         "--threads", "4", "--no-collectstatic"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    site = f"http://127.0.0.1:{port}"
    peak = {"connections": 0}
    done = threading.Event()

    def watch() -> None:  # the server's connections to the database while the burst runs
        while not done.wait(0.05):
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP]
                )
                peak["connections"] = max(peak["connections"], cur.fetchone()[0])

    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts slowly
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{site}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("solde serve did not start")

        barrier = threading.Barrier(REQUESTS, timeout=30)

        def call(i: int) -> tuple[str, int, str]:
            barrier.wait()  # all 200 leave together
            try:
                return send(i)
            except requests.RequestException as exc:
                return "no answer", 0, repr(exc)

        def send(i: int) -> tuple[str, int, str]:
            sp = sps[(i // 2) % len(sps)]  # each account gets balance reads and top-ups
            if i % 2:
                r = requests.get(
                    f"{site}/api/v1/supply-points/{sp.ean}/balance",
                    headers={"Authorization": f"Bearer {read}"},
                    timeout=TIMEOUT,
                )
                return "balance", r.status_code, r.text[:200]
            r = requests.post(
                f"{site}/api/v1/topups",
                json={
                    "reference": sp.customer_reference,
                    "amount": "20.00",
                    "channel": "retail",
                    "partner_transaction_id": f"burst-{i}",
                },
                headers={"Authorization": f"Bearer {shop}"},
                timeout=TIMEOUT,
            )
            return "topup", r.status_code, r.text[:200]

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(REQUESTS) as pool:
                results = list(pool.map(call, range(REQUESTS)))
        finally:
            done.set()
            watcher.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        out = server.communicate(timeout=30)[0].decode(errors="replace")

    errors = [r for r in results if r[1] >= 500 or r[1] == 0]
    assert not errors, f"{len(errors)} server errors, e.g. {errors[:3]}\n{out[-2000:]}"
    assert [s for kind, s, _ in results if kind == "balance"] == [200] * (REQUESTS // 2)
    assert [s for kind, s, _ in results if kind == "topup"] == [201] * (REQUESTS // 2)
    # Each worker process keeps its own pool: never more connections than workers × max.
    assert 0 < peak["connections"] <= WORKERS * POOL_MAX, peak
    # Every acknowledged top-up is credited, once.
    assert Topup.objects.count() == REQUESTS // 2
    for sp in sps:
        after = LedgerAccount.objects.get(pk=sp.account.balance_account_id).balance_cents
        assert after - before[sp.pk] == 2000 * (REQUESTS // 2 // len(sps)), sp.ean
