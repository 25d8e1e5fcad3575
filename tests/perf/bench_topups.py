"""Partner top-ups through the API under load: 50 concurrent locust clients on PostgreSQL.

A fresh database (solde_bench_topups), Django's threaded WSGI server on a free loopback port,
locust headless for a bounded time; baseline in the same run: 1 client. Afterwards the ledger is
verified and Σ balances must equal Σ top-ups + advances − charges − recoveries.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DB_NAME = "solde_bench_topups"

LOCUSTFILE = """
import json, os, random, uuid
from locust import HttpUser, constant, task

SEED = json.load(open(os.environ["BENCH_SEED"]))


class Partner(HttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.key = random.choice(SEED["keys"])

    @task
    def topup(self):
        body = {"reference": random.choice(SEED["refs"]), "amount": "20.00",
                "channel": "retail", "partner_transaction_id": uuid.uuid4().hex}
        with self.client.post("/api/v1/topups", json=body, catch_response=True,
                              headers={"Authorization": "Bearer " + self.key}) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
"""

SEED = """
import json, sys
from datetime import timedelta
import django
django.setup()
from django.db import transaction
from solde import clock
from solde.api.keys import create_key
from solde.identifiers import customer_reference, make_ean, structured_communication
from solde.prepayment.services import activate, open_account
from solde.registry.models import Customer, Dso, Supplier, SupplierAssignment, SupplyPoint
from solde.topups.models import Partner

n = int(sys.argv[1])
resa = Dso.objects.get(code="RESA")
sup, _ = Supplier.objects.get_or_create(code="BENCH", defaults={"name": "Bench supplier"})
refs, first = [], {}
with transaction.atomic():
    for i in range(n):
        ean = make_ean(f"5414499{i:010d}")
        c = Customer.objects.create(first_name="Bench", last_name=f"Customer {i}")
        sp = SupplyPoint.objects.create(ean=ean, dso=resa, energy="electricity", customer=c,
            tariff_category="average", customer_reference=customer_reference(ean),
            structured_communication=structured_communication(10**8 + i))
        SupplierAssignment.objects.create(supply_point=sp, supplier=sup, valid_from="2000-01-01")
        open_account(sp)
        first[sp.pk] = clock.now() - timedelta(days=1)
        refs.append(sp.customer_reference)
    activate(first)
keys = []
for i in range(5):
    key, plain = create_key(f"bench-partner-{i}", ["topups"])
    Partner.objects.create(name=f"Bench partner {i}", channel="retail", api_key=key)
    keys.append(plain)
json.dump({"refs": refs, "keys": keys}, open(sys.argv[2], "w"))
"""

SERVER = """
import sys
from django.conf import settings
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0  # one connection per request thread
import django
django.setup()
from django.core.servers.basehttp import WSGIServer, run
from django.core.wsgi import get_wsgi_application


class Server(WSGIServer):
    request_queue_size = 256  # 50 clients connecting at once must not be refused


run("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), threading=True, server_cls=Server)
"""

CHECK = """
import json
import django
django.setup()
from django.db.models import Sum
from solde.ledger.models import AccountKind, LedgerAccount, Transaction
from solde.ledger.services import verify
from solde.prepayment.models import DayCharge
from solde.topups.models import Topup

report = verify()
balances = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_BALANCE).aggregate(
    s=Sum("balance_cents"))["s"] or 0
topups = Topup.objects.aggregate(s=Sum("amount_cents"))["s"] or 0
advances = sum(e.amount_cents for t in Transaction.objects.filter(kind="advance")
               for e in t.entries.all() if e.amount_cents > 0)
charges = DayCharge.objects.aggregate(c=Sum("charge_cents"), r=Sum("recovery_cents"))
spent = (charges["c"] or 0) + (charges["r"] or 0)
print(json.dumps({"ok": report.ok, "transactions": report.transactions,
                  "topups": Topup.objects.count(), "balances": balances,
                  "expected": topups + advances - spent, "topup_cents": topups}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recreate_db(pg_url: str) -> str:
    import psycopg

    base = pg_url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return f"{base}/{DB_NAME}"


def _locust(env: dict, workdir: Path, host: str, users: int, seconds: int, name: str) -> dict:
    prefix = workdir / name
    subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            str(workdir / "locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--stop-timeout",
            "5",
            "--exit-code-on-error",
            "0",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=seconds + 120,
    )
    with open(f"{prefix}_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
    }


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    n_points = max(50, int(2000 * scale))
    seconds = max(10, int(60 * scale))
    db_url = _recreate_db(pg_url)
    env = {
        **os.environ,
        "SOLDE_DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "solde.settings",
        "PYTHONPATH": str(ROOT / "src"),
        "SOLDE_DEBUG": "0",
        "BENCH_SEED": "",
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench_topups_"))
    subprocess.run([str(BIN / "solde"), "migrate", "-v", "0"], env=env, check=True)
    seed = workdir / "seed.json"
    subprocess.run([sys.executable, "-c", SEED, str(n_points), str(seed)], env=env, check=True)
    env["BENCH_SEED"] = str(seed)
    (workdir / "locustfile.py").write_text(LOCUSTFILE)
    port = _free_port()
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                requests.get(f"{host}/api/v1/openapi.json", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        base = _locust(env, workdir, host, 1, max(5, seconds // 4), "baseline")
        load = _locust(env, workdir, host, 50, seconds, "load")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    out = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, check=True, capture_output=True, text=True
    ).stdout
    check = json.loads(out.strip().splitlines()[-1])
    ok_count = base["requests"] - base["failures"] + load["requests"] - load["failures"]
    sums_ok = check["balances"] == check["expected"]
    return (
        "## Partner top-ups through the API (`bench_topups`)\n\n"
        f"`POST /api/v1/topups` (retail, 20.00 €, a new partner transaction id each) against "
        f"Django's threaded WSGI server on loopback, PostgreSQL database `{DB_NAME}`, "
        f"{n_points} active accounts, 5 partner keys; locust headless, {seconds} s with 50 "
        f"concurrent clients (no wait), after a {max(5, seconds // 4)} s baseline with 1 "
        "client.\n\n"
        "| run | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"| baseline, 1 client | {base['requests']} | {base['failures']} | {base['rps']:.1f} | "
        f"{base['p50']:.0f} | {base['p99']:.0f} |\n"
        f"| 50 clients | {load['requests']} | {load['failures']} | {load['rps']:.1f} | "
        f"{load['p50']:.0f} | {load['p99']:.0f} |\n\n"
        f"Afterwards: ledger verify {'clean' if check['ok'] else 'FAILED'} "
        f"({check['transactions']} transactions); {check['topups']} top-ups recorded for "
        f"{ok_count} requests answered 201 "
        f"({'every one recorded' if check['topups'] >= ok_count else 'SOME MISSING'}; a request "
        "cut by locust at the end of a run may still be credited); "
        f"Σ balances = {check['balances'] / 100:.2f} € "
        f"{'=' if sums_ok else '≠'} Σ top-ups + advances − charges = "
        f"{check['expected'] / 100:.2f} €.\n"
    )


if __name__ == "__main__":
    print(run(os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")))
