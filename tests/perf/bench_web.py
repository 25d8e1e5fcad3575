"""The API through the production web server (`solde serve`) on PostgreSQL, open loop.

A fresh database (`solde_bench_web`) with 100,000 active accounts (bench_close's loader, COPY),
a read key and 5 partner keys. For each server (gunicorn, then granian, same app, same workers)
started by `solde serve` on a free loopback port:
- `/healthz` at a fixed 200 requests/s: the floor (the server and Django, no database);
- `GET /api/v1/supply-points/{ean}/balance` for random accounts at 200/s (target p99 < 20 ms);
- the highest balance rate held with p99 < 50 ms and no error;
- `POST /api/v1/topups` (retail 20.00 €, a new partner transaction id each): the highest rate
  held with p99 < 150 ms and no error (target ≥ 150/s).
Open loop (tests/perf/openloop.py): requests leave at fixed times and latency counts from the
scheduled time. The load generator, the server and PostgreSQL share the machine's cores.
Afterwards every top-up answered 201 must be in the database. `SOLDE_BENCH_SCALE` shrinks it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "solde_bench_web"
ACCOUNTS = 100_000
FIXED_RATE = 200
BALANCE_P99_TARGET = 20.0
BALANCE_P99_LIMIT = 50.0
TOPUP_P99_LIMIT = 150.0
TOPUP_TARGET_RATE = 150
SERVERS = ("gunicorn", "granian")
# `solde serve`'s default threads per worker (what the runs use unless SOLDE_WEB_THREADS says).
DEFAULT_THREADS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db_name(pg_url: str) -> str:
    """`solde_bench_web`, or `<the URL's database>_web` for any other database than `solde`
    (a helper's own prefix: its run never drops another's database)."""
    name = pg_url.rsplit("/", 1)[1]
    return DB_NAME if name in ("", "solde") else f"{name}_web"


def _recreate(pg_url: str) -> str:
    import psycopg

    base, name = pg_url.rsplit("/", 1)[0], _db_name(pg_url)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def start_server(env: dict, server: str, port: int, log: Path) -> subprocess.Popen:
    """`solde serve` on 127.0.0.1:port; returns once /healthz answers (120 s at most). The API
    needs no static files: no collect."""
    import requests

    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "solde"), "serve", "--server", server,
         "--bind", f"127.0.0.1:{port}", "--no-collectstatic"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"solde serve exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"solde serve did not answer within 120 s: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _measure(port: int, seed: dict, scale: float, log) -> dict:
    from tests.perf import openloop

    rng = random.Random(7)
    eans = seed["eans"]
    refs = seed["refs"]
    read = {"Authorization": "Bearer " + seed["read_key"]}
    keys = seed["partner_keys"]
    run_id = uuid.uuid4().hex[:8]
    secs = max(5.0, 20 * scale)
    step_secs = max(4.0, 10 * scale)

    def healthz(i: int):
        return ("GET", "/healthz", {}, None)

    def balance(i: int):
        return ("GET", f"/api/v1/supply-points/{rng.choice(eans)}/balance", read, None)

    def topup(i: int):
        body = json.dumps(
            {
                "reference": rng.choice(refs),
                "amount": "20.00",
                "channel": "retail",
                "partner_transaction_id": f"{run_id}-{i}",
            }
        ).encode()
        headers = {
            "Authorization": "Bearer " + keys[i % len(keys)],
            "Content-Type": "application/json",
        }
        return ("POST", "/api/v1/topups", headers, body)

    def balance_ok(status: int, body: bytes) -> bool:
        return status == 200 and b'"balance"' in body

    def settle() -> None:
        """Wait (60 s at most) until the server answers /healthz within 20 ms again: requests
        queued by an overloaded run must not be charged to the next one."""
        import requests

        deadline = time.monotonic() + 60
        time.sleep(1)
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except requests.RequestException:
                pass
            if time.perf_counter() - t < 0.02:
                return
            time.sleep(0.5)

    out: dict = {}
    openloop.run(port, 50, 3, balance)  # warm-up: every worker imported and connected
    settle()
    out["healthz"] = openloop.run(port, FIXED_RATE, secs, healthz)
    log(f"   healthz {out['healthz'].summary()}")
    settle()
    out["balance"] = openloop.run(port, FIXED_RATE, secs, balance, balance_ok)
    log(f"   balance {out['balance'].summary()}")
    out["balance_max"], out["balance_steps"] = openloop.highest_rate(
        port, [50, 100, 200, 300, 400, 500, 600, 800], step_secs, balance, BALANCE_P99_LIMIT,
        balance_ok, log=log, settle=settle,
    )  # fmt: skip
    out["topup_max"], out["topup_steps"] = openloop.highest_rate(
        port, [25, 50, 100, 150, 200, 250, 300, 400], step_secs, topup, TOPUP_P99_LIMIT, log=log,
        settle=settle,
    )  # fmt: skip
    out["topups_201"] = sum(r.statuses.get(201, 0) for r in out["topup_steps"])
    return out


def _row(name: str, res) -> str:
    if res is None:
        return f"| {name} | – | – | – | – | – | none held |\n"
    s = res.summary()
    return (
        f"| {name} | {res.rate:.0f} | {s['answered']} | {s['failures']} | {s['p50']:.1f} | "
        f"{s['p99']:.1f} | {s['max']:.1f} |\n"
    )


def _count_topups(env: dict) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench_web", "count"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    n = max(1000, int(ACCOUNTS * scale))
    db_url = _recreate(pg_url)
    work = Path(tempfile.mkdtemp(prefix="bench_web_"))
    env = {
        **os.environ,
        "SOLDE_DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "solde.settings",
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "SOLDE_DATA_DIR": str(work),
        "SOLDE_DEBUG": "0",
        "SOLDE_SIMULATION": "1",  # plain HTTP on loopback, as the demo and black-box checks
        "SOLDE_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "SOLDE_HEADEND_URL": "inprocess",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "solde", "migrate", "-v", "0"], env=env, check=True)
    seed_file = work / "seed.json"
    subprocess.run(
        [sys.executable, "-m", "tests.perf.bench_web", "seed", str(n), str(seed_file)],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    setup_s = time.perf_counter() - started
    return measure(env, json.loads(seed_file.read_text()), n, setup_s, scale)


def measure(env: dict, seed: dict, n: int, setup_s: float, scale: float) -> str:
    """Both servers on the prepared database; the Markdown section."""
    results = {}
    load_before = os.getloadavg()[0]
    for server in SERVERS:
        print(f"   {server}", flush=True)
        port = _free_port()
        proc = start_server(env, server, port, Path(env["SOLDE_DATA_DIR"]) / f"{server}.log")
        try:
            results[server] = _measure(port, seed, scale, lambda m: print(m, flush=True))
        finally:
            stop_server(proc)
    load_after = os.getloadavg()[0]
    stored = _count_topups(env)
    answered = sum(r["topups_201"] for r in results.values())
    workers = os.cpu_count() or 1
    text = [
        "## The API through the production web server (`bench_web`)\n\n",
        f"`solde serve` (each server with {workers + 1} worker processes, "
        f"{env.get('SOLDE_WEB_THREADS') or DEFAULT_THREADS} threads each, "
        "whitenoise, psycopg pool) on a free loopback port, PostgreSQL database "
        f"`{env['SOLDE_DATABASE_URL'].rsplit('/', 1)[1]}` "
        f"with {n:,} active accounts (set up in {setup_s:.0f} s), one read key, 5 partner keys. "
        "Open loop (`tests/perf/openloop.py`): requests leave at fixed times, latency is "
        "measured from the scheduled send time, so a server falling behind shows it. "
        f"Fixed-rate runs last {max(5.0, 20 * scale):.0f} s; each step of a rate search "
        f"{max(4.0, 10 * scale):.0f} s, stopping after two missed steps. **The load generator "
        f"(one Python process), the server and PostgreSQL share this machine's {workers} "
        "cores**: absolute figures are pessimistic; the ratio to `/healthz` (the server and "
        "Django without the database) is the comparable figure. Load average (1 min) when "
        f"the runs began: {load_before:.1f}, when they ended: {load_after:.1f} (other work on "
        "the machine counts in it).\n\n",
    ]
    for server, r in results.items():
        h, b = r["healthz"], r["balance"]
        ratio = b.pct(99) / h.pct(99) if h.pct(99) else float("nan")
        bm, tm = r["balance_max"], r["topup_max"]
        text.append(f"### {server}\n\n")
        text.append(
            "| run | rate/s | answered | errors | p50 ms | p99 ms | max ms |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n"
        )
        text.append(_row("`/healthz` (floor)", h))
        text.append(_row("balance, random account", b))
        text.append(_row("balance, highest rate with p99 < 50 ms", bm))
        text.append(_row("top-up, highest rate with p99 < 150 ms", tm))
        text.append(
            f"\nBalance at {FIXED_RATE}/s: p99 {b.pct(99):.1f} ms (target < "
            f"{BALANCE_P99_TARGET:.0f} ms, 0 errors: "
            f"**{'met' if b.pct(99) < BALANCE_P99_TARGET and b.failures == 0 else 'NOT met'}**)"
            f", {ratio:.1f}× the `/healthz` p99. Highest balance rate with p99 < 50 ms: "
            f"{f'{bm.rate:.0f}/s' if bm else 'none'}. Highest top-up rate with p99 < 150 ms "
            f"and 0 errors: {f'{tm.rate:.0f}/s' if tm else 'none'} (target ≥ "
            f"{TOPUP_TARGET_RATE}/s: "
            f"**{'met' if tm and tm.rate >= TOPUP_TARGET_RATE else 'NOT met'}**).\n\n"
        )
        steps = ", ".join(
            f"{s.rate:.0f}/s p99 {s.pct(99):.0f} ms"
            + (f" ({s.failures} errors)" if s.failures else "")
            for s in r["topup_steps"]
        )
        text.append(f"Top-up steps: {steps}.\n\n")
    text.append(
        f"Afterwards: {stored} top-ups stored for {answered} answered 201 "
        f"({'every acknowledged top-up recorded' if stored >= answered else 'SOME MISSING'}). "
        "Before, Django's threaded development server managed 72 top-ups/s with a p99 of "
        "1.1 s (50 closed-loop clients, 2,000 accounts).\n"
    )
    return "".join(text)


# ---- subprocess side (Django set up on the benchmark database) ----


def _seed(n: int, out: Path) -> None:
    import django

    django.setup()
    from datetime import date

    from django.core.management.color import no_style
    from django.db import connection, transaction

    from solde.api.keys import create_key
    from solde.registry.models import Supplier, SupplierAssignment, SupplyPoint
    from solde.topups.models import Partner
    from tests.perf.bench_close import _copy, _model_rows, _setup

    _setup(n)
    with transaction.atomic():
        sup = Supplier.objects.create(code="BENCH", name="Bench supplier")
        _copy(
            SupplierAssignment,
            *_model_rows(
                SupplierAssignment,
                (
                    SupplierAssignment(
                        id=i, supply_point_id=i, supplier=sup, valid_from=date(2000, 1, 1)
                    )
                    for i in range(1, n + 1)
                ),
            ),
        )
        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), [SupplierAssignment]):
                cur.execute(sql)
        _, read_key = create_key("bench-read", ["read"])
        partner_keys = []
        for i in range(5):
            key, plain = create_key(f"bench-partner-{i}", ["topups"])
            Partner.objects.create(name=f"Bench partner {i}", channel="retail", api_key=key)
            partner_keys.append(plain)
    rows = SupplyPoint.objects.values_list("ean", "customer_reference")
    out.write_text(
        json.dumps(
            {
                "eans": [e for e, _ in rows],
                "refs": [r for _, r in rows],
                "read_key": read_key,
                "partner_keys": partner_keys,
            }
        )
    )


def _count() -> None:
    import django

    django.setup()
    from solde.topups.models import Topup

    print(Topup.objects.count())


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        _seed(int(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:2] == ["count"]:
        _count()
    else:
        print(run(os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")))
