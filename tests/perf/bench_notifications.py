"""Notifications: events rendered into messages per second, and messages sent per second over
real local servers (aiosmtpd, the fake Twilio through the twilio SDK). Baseline in the same
run: rendering one event per transaction (what a naive per-row worker would do)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB = "solde_bench_notify"


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    n_events = max(int(20000 * scale), 200)
    n_send = max(int(2000 * scale), 50)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{tmp}/bench.sqlite3")]
        base = pg_url.rsplit("/", 1)[0]
        try:
            import psycopg

            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB}")
                conn.execute(f"CREATE DATABASE {DB}")
            targets.append(("PostgreSQL", f"{base}/{DB}"))
        except Exception as exc:  # no server: say so in the report
            rows.append(f"| PostgreSQL | not run: {exc.__class__.__name__} | | | |")
        for name, url in targets:
            env = {
                **os.environ,
                "SOLDE_DATABASE_URL": url,
                "SOLDE_DATA_DIR": tmp,
                "DJANGO_SETTINGS_MODULE": "solde.settings",
                "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
            }
            out = (
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "tests.perf.bench_notifications",
                        str(n_events),
                        str(n_send),
                    ],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            r = json.loads(out)
            rows.append(
                f"| {name} | {r['events']} events → {r['messages']} messages in "
                f"{r['render_s']:.2f} s ({r['events'] / r['render_s']:.0f} events/s) | "
                f"{r['baseline_events']} events one per transaction: "
                f"{r['baseline_events'] / r['baseline_s']:.0f} events/s | "
                f"{r['sent']} sent in {r['send_s']:.2f} s ({r['sent'] / r['send_s']:.0f}/s) |"
            )
    return (
        "## Notifications (render and send)\n\n"
        "Events of every kind for customers with e-mail + SMS; `render_events()` (batches of "
        "500, one transaction each) vs. a per-event loop; then `send_due()` of e-mails to a "
        "local aiosmtpd server and SMS through the twilio SDK to the fake Twilio over HTTP.\n\n"
        "| database | render (set-based) | baseline | send |\n|---|---|---|---|\n" + "\n".join(rows)
    )


def _inner(n_events: int, n_send: int) -> dict:
    import django

    django.setup()
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.core.management import call_command

    from solde import clock
    from solde.identifiers import customer_reference, make_ean, structured_communication
    from solde.notifications import services
    from solde.notifications.events import publish_many
    from solde.notifications.fake_twilio import FakeTwilio
    from solde.notifications.models import ContactPreference, Event, EventKind, Message
    from solde.registry.models import Customer, Dso, SupplyPoint

    call_command("migrate", verbosity=0)
    # A weekday at 10:00 so no SMS waits for the morning.
    clock.freeze(datetime(2026, 11, 27, 10, 0, tzinfo=clock.BRUSSELS)).__enter__()
    dso = Dso.objects.get(code="RESA")
    n_sp = max(n_events // 10, 10)
    customers = Customer.objects.bulk_create(
        [
            Customer(
                first_name="Client",
                last_name=f"{i}",
                email=f"c{i}@example.org",
                phone="+32470123456",
                language="fr nl de en".split()[i % 4],
            )
            for i in range(n_sp)
        ]
    )
    ContactPreference.objects.bulk_create(
        [ContactPreference(customer=c, email=True, sms=True) for c in customers]
    )
    sps = SupplyPoint.objects.bulk_create(
        [
            SupplyPoint(
                ean=(ean := make_ean(f"54144880{i:09d}")),
                dso=dso,
                energy="electricity",
                customer=c,
                tariff_category="average",
                customer_reference=customer_reference(ean),
                structured_communication=structured_communication(i + 1),
                street="Rue",
                number="1",
                postcode="4000",
                city="Liège",
            )
            for i, c in enumerate(customers)
        ]
    )
    kinds = [k for k in EventKind.values if k != "activation_code_issued"]

    def events(n: int, tag: str):
        return [
            (
                kinds[i % len(kinds)],
                sps[i % len(sps)].pk,
                f"{tag}:{i}",
                {"balance_cents": 500 - i % 2000, "amount_cents": 2000},
            )
            for i in range(n)
        ]

    baseline_n = max(n_events // 20, 20)
    publish_many(events(baseline_n, "base"))
    t = time.perf_counter()
    while Event.objects.filter(handled_at__isnull=True).exists():
        services.render_events(limit=1)
    baseline_s = time.perf_counter() - t

    publish_many(events(n_events, "bench"))
    before = Message.objects.count()
    t = time.perf_counter()
    services.render_events()
    render_s = time.perf_counter() - t
    messages = Message.objects.count() - before

    inbox: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            inbox.append(1)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    # The fake Twilio, spoken to through the twilio SDK; its delivery callbacks go to a closed
    # port (no web server in this benchmark) and are dropped.
    gateway = FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN).start()
    settings.TWILIO_API_URL = gateway.url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.SITE_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    t = time.perf_counter()
    counts = services.send_due(limit=n_send)
    send_s = time.perf_counter() - t
    smtp.stop()
    gateway.stop()
    return {
        "events": n_events,
        "messages": messages,
        "render_s": render_s,
        "baseline_events": baseline_n,
        "baseline_s": baseline_s,
        "sent": counts["sent"],
        "send_s": send_s,
    }


if __name__ == "__main__":
    print(json.dumps(_inner(int(sys.argv[1]), int(sys.argv[2]))))
