"""Benchmark: from a top-up on an interrupted account to the reconnect order at the broker.

Each of N top-ups (1,000 × SOLDE_BENCH_SCALE) is the real path and nothing else:
`topups.services.credit_topup` on a disconnected, exhausted account; inside its transaction
`prepayment.services.credit` sends `balance_changed` and credit control issues the reconnect
(and a balance display). The orders are dispatched right after the commit over MQTT (QoS 1) to
the real Mosquitto; a subscriber on the broker timestamps the first arrival of each reconnect.
Baseline in the same run: a bare MQTT publish → the same subscriber, no database.
Runs in a subprocess on its own PostgreSQL database (solde_bench_headend). Target p99 < 1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "solde_bench_headend"
BROKER = "mqtt://127.0.0.1:1883"


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    n = max(20, int(1000 * scale))
    db_url = pg_url.rsplit("/", 1)[0] + "/" + DB_NAME
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "solde.settings",
        "SOLDE_DATABASE_URL": db_url,
        "SOLDE_HEADEND_URL": BROKER,
        "SOLDE_HEADEND_TOPIC_PREFIX": f"solde-bench/{uuid.uuid4().hex[:8]}",
        "SOLDE_SIMULATION": "0",
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench_reconnect", db_url, str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        return (
            "## Top-up → reconnect order at the broker\n\nFailed:\n\n```\n"
            + done.stderr[-3000:]
            + "\n```"
        )
    return done.stdout.strip()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _reset_database(db_url: str) -> None:
    import psycopg

    server = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _seed(n: int) -> list[tuple[object, int]]:
    """n active electricity accounts, exhausted and disconnected; (account, meter id) each."""
    from django.db import transaction

    from solde.identifiers import customer_reference, make_ean
    from solde.ledger.models import AccountKind
    from solde.ledger.services import account
    from solde.prepayment.services import credit, open_account
    from solde.registry.models import Customer, Dso, Meter, SupplyPoint

    resa = Dso.objects.get(code="RESA")
    adj = account("adjustments:bench", AccountKind.ADJUSTMENTS)
    out = []
    with transaction.atomic():
        for i in range(n):
            ean = make_ean(f"5414488{900000000 + i:010d}")
            customer = Customer.objects.create(first_name="Bench", last_name=f"Customer {i}")
            sp = SupplyPoint.objects.create(
                ean=ean,
                dso=resa,
                energy="electricity",
                customer=customer,
                tariff_category="average",
                customer_reference=customer_reference(ean),
            )
            meter = Meter.objects.create(
                serial=f"B{i:07d}", supply_point=sp, registers=["1.8.1", "1.8.2"]
            )
            acc = open_account(sp)
            acc.state = "active"
            acc.supply = "disconnected"
            acc.save(update_fields=["state", "supply"])
            credit(acc, -1500, key=f"bench-debt-{i}", kind="adjustment", counter_account_id=adj.pk)
            out.append((acc, meter.pk))
    return out


def _inner(db_url: str, n: int) -> None:
    import django

    _reset_database(db_url)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from solde.headend import topics
    from solde.headend.adapters import MqttTransport, publisher
    from solde.orders.models import Order
    from solde.topups.services import credit_topup

    accounts = _seed(n)
    arrived: dict[int, float] = {}
    baseline_arrived: dict[int, float] = {}

    def on_message(topic: str, payload: dict, ack) -> None:
        now = time.perf_counter()
        # First arrival only: a resend by the sweep must not move the timestamp.
        if "baseline" in payload:
            baseline_arrived.setdefault(payload["baseline"], now)
        elif payload.get("kind") == "reconnect":
            arrived.setdefault(payload["order_id"], now)
        ack()

    subscriber = MqttTransport(BROKER, client_id=f"bench-sub-{uuid.uuid4().hex[:8]}")
    subscriber.subscribe([topics.all_meters("orders")], on_message)
    publisher()  # connected once, as in a running web process

    # Baseline: the broker round trip alone.
    bare = MqttTransport(BROKER)
    bare.wait_connected()
    baseline_start: dict[int, float] = {}
    for i in range(n):
        baseline_start[i] = time.perf_counter()
        bare.publish(topics.orders("BASELINE"), {"baseline": i})
    _wait_for(lambda: len(baseline_arrived) == n)

    by_meter: dict[int, float] = {}
    commit_ms: list[float] = []
    for i, (acc, meter_id) in enumerate(accounts):
        t0 = time.perf_counter()
        credit_topup(acc, 2500, channel="retail", external_id=f"bench-topup-{i}")
        commit_ms.append((time.perf_counter() - t0) * 1000)
        by_meter[meter_id] = t0
    # The reconnects credit control issued, one per top-up (none superseded).
    started = {
        pk: by_meter[meter_id]
        for pk, meter_id in Order.objects.filter(
            kind="reconnect", meter_id__in=list(by_meter)
        ).values_list("pk", "meter_id")
    }
    issued = len(started)
    _wait_for(lambda: all(k in arrived for k in started), timeout=10)
    # An order the broker did not take at once (broker restarted meanwhile, say) is sent again
    # by the sweep; run one sweep pass past the first backoff so nothing is left behind.
    resent = sum(1 for k in started if k not in arrived)
    if resent:
        from datetime import timedelta

        from solde import clock
        from solde.orders.services import dispatch_due

        dispatch_due(now=clock.now() + timedelta(minutes=1))
        _wait_for(lambda: all(k in arrived for k in started), timeout=10)

    lat = [(arrived[k] - t0) * 1000 for k, t0 in started.items() if k in arrived]
    base = [
        (baseline_arrived[k] - t0) * 1000
        for k, t0 in baseline_start.items()
        if k in baseline_arrived
    ]
    lost = n - len(lat)
    p99 = _pct(lat, 99) if lat else float("inf")
    verdict = "met" if p99 < 1000 and not lost else "NOT met"
    print(
        "## Top-up → reconnect order at the broker\n\n"
        f"{n} top-ups one after another on exhausted, disconnected electricity accounts "
        "(PostgreSQL, Mosquitto on 127.0.0.1:1883). Each is `topups.services.credit_topup` "
        "alone: in its transaction credit control issues the reconnect (and a balance "
        "display); the orders are published after the commit (QoS 1) and a subscriber on the "
        "broker timestamps the first arrival of each reconnect.\n\n"
        "| measure | p50 | p99 | max |\n|---|---|---|---|\n"
        f"| top-up start → reconnect order at the subscriber | {statistics.median(lat):.1f} ms "
        f"| {p99:.1f} ms | {max(lat):.1f} ms |\n"
        f"| of which the top-up + dispatch (caller's view) | "
        f"{statistics.median(commit_ms):.1f} ms | {_pct(commit_ms, 99):.1f} ms | "
        f"{max(commit_ms):.1f} ms |\n"
        f"| baseline, same run: bare MQTT publish → subscriber | {statistics.median(base):.1f} ms "
        f"| {_pct(base, 99):.1f} ms | {max(base):.1f} ms |\n\n"
        f"Reconnect orders issued by credit control: {issued} for {n} top-ups; not at the "
        f"broker after the commit and resent by the sweep: {resent}; lost: {lost}. "
        f"Target p99 < 1 s: **{verdict}**."
    )
    subscriber.close()
    bare.close()
    publisher().close()


def _wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)


if __name__ == "__main__":
    _inner(sys.argv[1], int(sys.argv[2]))
