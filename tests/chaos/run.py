"""`python -m tests.chaos.run --minutes N` (what `make chaos` runs): the platform as in
production (web, worker, head-end listener as separate processes, PostgreSQL, a private
Mosquitto on a random 127.0.0.1 port) with the simulated meter fleet sending readings over MQTT.
For N minutes it drives partner top-ups through the API (some repeated on purpose), online
payments through the fake provider (paid webhooks), bank statement imports (some re-imported)
and daily closes (the simulation clock moved forward), while it `kill -9`s a random process every
few seconds and restarts it, cuts PostgreSQL once (every backend of the run's database
terminated and new connections refused for a few seconds: the shared server is never restarted)
and restarts Mosquitto once. Then it quiets everything, drains, checks the invariants and writes
the figures (RELIABILITY.md with --report). Exit status 1 when an invariant does not hold.

The clock driver moves the simulation clock a day at a time with `solde clock set` (which runs
the close it passes) and kills some of those commands mid-way, so days are closed, by it and by
the worker's catch-up, while processes die. The meters journal every message the broker
acknowledged (`solde simulate --journal`): the check compares that record of what the fleet
delivered and executed with what the database stored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOLDE = str(BIN / "solde")
PLATFORM = ("web", "worker", "headend", "meters")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    return False


class Run:
    def __init__(self, minutes: float, server_url: str, db: str, seed: int, meters: int):
        self.minutes = minutes
        self.server_url = server_url.rstrip("/")
        self.db = db
        self.url = f"{self.server_url}/{db}"
        self.rng = random.Random(seed)
        self.meters = meters
        self.tmp = Path(tempfile.mkdtemp(prefix="solde-chaos-"))
        self.web_port, self.mqtt_port, self.fake_port = free_port(), free_port(), free_port()
        self.site = f"http://127.0.0.1:{self.web_port}"
        self.fake = f"http://127.0.0.1:{self.fake_port}"
        self.journal = self.tmp / "meters.journal"
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.kills: Counter[str] = Counter()
        self.driven: Counter[str] = Counter()
        self.answered: dict[str, int] = {}  # partner transaction id -> topup id (201 or 200)
        self.sent: dict[str, dict] = {}
        self.events: list[str] = []
        self.load: list[float] = []  # the 1-minute load average, sampled during the chaos
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SOLDE_", "DJANGO"))}
        self.env.update(
            SOLDE_SIMULATION="1",
            SOLDE_DATABASE_URL=self.url,
            SOLDE_DATA_DIR=str(self.tmp / "var"),
            SOLDE_HEADEND_URL=f"mqtt://127.0.0.1:{self.mqtt_port}",
            SOLDE_HEADEND_TOPIC_PREFIX=f"chaos{os.getpid()}/v1",
            SOLDE_BIND=f"127.0.0.1:{self.web_port}",
            SOLDE_SITE_URL=self.site,
            SOLDE_ALLOWED_HOSTS="127.0.0.1",
            SOLDE_PAYMENT_PROVIDER="fake",
            SOLDE_PAYMENT_PROVIDER_URL=self.fake,
            SOLDE_SMS_PROVIDER="fake",
            SOLDE_SMTP_PORT=str(free_port()),
            SOLDE_WEB_WORKERS="2",
            SOLDE_DB_POOL_TIMEOUT="5",
            PYTHONUNBUFFERED="1",
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )

    # -- processes ---------------------------------------------------------------------------
    def log(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.events.append(line)
        print(line, flush=True)

    def solde(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A `solde` command; one that outlasts `timeout` (a loaded machine) counts as failed."""
        try:
            return subprocess.run(
                [SOLDE, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", f"timed out after {timeout} s")

    def command_line(self, name: str) -> list[str]:
        return {
            "mosquitto": ["/usr/sbin/mosquitto", "-c", str(self.tmp / "mosquitto.conf")],
            "fake": [SOLDE, "fake-provider", "--port", str(self.fake_port)],
            "web": [SOLDE, "serve"],
            "worker": [SOLDE, "qcluster"],
            "headend": [SOLDE, "headend", "listen"],
            "meters": [SOLDE, "simulate", "--meters", str(self.meters), "--ack-delay", "1",
                       "--exec-delay", "2", "--journal", str(self.journal)],
        }[name]  # fmt: skip

    def start(self, name: str) -> None:
        out = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            self.command_line(name), env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self, name: str) -> None:
        p = self.procs[name]
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=30)

    def quit(self, name: str) -> None:
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill(name)

    # -- set-up ------------------------------------------------------------------------------
    def prepare(self) -> None:
        with psycopg.connect(f"{self.server_url}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{self.db}"')
        (self.tmp / "var").mkdir()
        # Started as root, Mosquitto drops to its own user, which cannot write its persistence
        # file in our private directory: the restart would then lose every queued message.
        stay = "user root\n" if os.geteuid() == 0 else ""
        (self.tmp / "mosquitto.conf").write_text(
            f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.tmp}/\n{stay}"
        )
        for args in (
            ("migrate", "-v", "0"),
            ("seed-demo", "--supply-points", "40", "--days", "3"),
            ("apikey", "create", "chaos-shop", "--scope", "topups", "--channel", "retail"),
        ):
            done = self.solde(*args, timeout=900)
            if done.returncode:
                raise SystemExit(f"solde {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        self.key = done.stdout.splitlines()[1].strip()  # printed once, on the second line
        # The seeded days closed as `solde demo` does before its worker takes over.
        catch_up = (
            "from solde import schedule; from solde.management.commands.demo import "
            "seeded_lookback; schedule.run_due(first_run_lookback=seeded_lookback())"
        )
        done = self.solde("shell", "-c", catch_up, timeout=900)
        if done.returncode:
            raise SystemExit(f"catching up the seeded days failed:\n{done.stderr}")
        with psycopg.connect(self.url) as c:
            rows = c.execute(
                "select sp.customer_reference, sp.structured_communication from"
                " registry_supplypoint sp join prepayment_prepaymentaccount a"
                " on a.supply_point_id = sp.id where a.state = 'active'"
            ).fetchall()
            self.seeded_last_day = c.execute(
                "select max(day) from prepayment_daycharge"
            ).fetchone()[0]
        self.references = [r[0] for r in rows]
        self.ogms = [r[1] for r in rows if r[1]]
        if not self.references:
            raise SystemExit("the seeded fleet has no active account")
        self.log(f"seeded: {len(rows)} active accounts; database {self.db}")

    # -- drivers -----------------------------------------------------------------------------
    def partner_topups(self) -> None:
        n, unanswered = 0, []
        while not self.stop.is_set():
            n += 1
            tx = f"chaos-{n}"
            # A partner retries what got no answer; some answered ones are repeated on purpose.
            again = bool(unanswered) or (self.rng.random() < 0.2 and self.answered)
            if unanswered:
                tx = unanswered.pop()
            elif again:
                tx = self.rng.choice(list(self.answered))
            body = {
                "reference": self.rng.choice(self.references),
                "amount": f"{self.rng.randint(5, 60)}.{self.rng.randint(0, 99):02d}",
                "channel": "retail",
                "partner_transaction_id": tx,
            }
            if again:
                body = self.sent[tx]
            self.sent[tx] = body
            try:
                r = requests.post(
                    f"{self.site}/api/v1/topups", json=body, timeout=10,
                    headers={"Authorization": f"Bearer {self.key}"},
                )  # fmt: skip
            except requests.RequestException:
                self.driven["topup_no_answer"] += 1
                unanswered.append(tx)
                self.stop.wait(0.3)
                continue
            if r.status_code in (200, 201):
                tid = r.json()["topup_id"]
                if tx in self.answered and self.answered[tx] != tid:
                    self.log(f"BUG: {tx} answered topup {self.answered[tx]} then {tid}")
                    self.driven["topup_answer_changed"] += 1
                self.answered[tx] = tid
                self.driven[f"topup_{r.status_code}"] += 1
            else:
                self.driven[f"topup_http_{r.status_code}"] += 1
                if r.status_code >= 500:
                    unanswered.append(tx)  # not acknowledged: the partner tries again
            self.stop.wait(0.2)

    def online_payments(self) -> None:
        """A customer's payment: created by the platform at the provider, then paid there (the
        provider calls our webhook; if the web is down the call is lost: reconcile finds it)."""
        n = 0
        while not self.stop.is_set():
            n += 1
            ref = self.rng.choice(self.references)
            cents = self.rng.randint(5, 80) * 100
            try:
                pid = self._start_payment(ref, cents)
                r = requests.post(f"{self.fake}/_fake/payments/{pid}", json={"status": "paid"},
                                  timeout=10)  # fmt: skip
                self.driven["online_paid" if r.ok else "online_pay_refused"] += 1
            except Exception as exc:  # noqa: BLE001 - counted; the platform may be down
                self.driven["online_not_started"] += 1
                self.events.append(f"online payment not started: {exc}"[:200])
            self.stop.wait(1.5)

    def _start_payment(self, reference: str, cents: int) -> str:
        code = (
            "from solde.registry.models import SupplyPoint;"
            "from solde.topups import online;"
            f"sp = SupplyPoint.objects.get(customer_reference='{reference}');"
            f"p = online.start_payment(sp.account, {cents}, 'bancontact', '{self.site}/');"
            "print('PID', p.provider_payment_id)"
        )
        done = self.solde("shell", "-c", code, timeout=60)
        for line in done.stdout.splitlines():
            if line.startswith("PID "):
                return line.split()[1]
        raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1:])

    def bank_imports(self) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.topups.camt_builder import Entry, statement

        n, files = 0, []
        while not self.stop.is_set():
            n += 1
            if files and self.rng.random() < 0.3:
                path = self.rng.choice(files)
                kind = "bank_reimport"
            else:
                entries = [
                    Entry(f"{self.rng.randint(5, 90)}.00", ref=f"CHAOS{n}-{i}",
                          ntry_ref=f"{i + 1}", ogm=self.rng.choice(self.ogms))
                    for i in range(self.rng.randint(1, 4))
                ]  # fmt: skip
                if self.rng.random() < 0.2:
                    entries.append(Entry("12.00", ref=f"CHAOS{n}-x", text="no reference here"))
                path = self.tmp / f"statement-{n}.xml"
                path.write_bytes(statement(*entries, sid=f"CHAOS-{n}", seq=str(n)))
                files.append(path)
                kind = "bank_import"
            done = self.solde("import-bank-statement", str(path), timeout=120)
            self.driven[kind if done.returncode == 0 else kind + "_failed"] += 1
            if done.returncode:
                self.events.append(f"{path.name}: {(done.stderr or done.stdout)[-200:]}")
                files.remove(path) if kind == "bank_import" else None
            self.stop.wait(3)

    def platform_now(self) -> datetime:
        """The simulation clock, read from its row as every process does (no process to start)."""
        with psycopg.connect(self.url) as c:
            row = c.execute(
                "select anchor_real, anchor_simulated, speed from solde_simulatedclock where id = 1"
            ).fetchone()
        if row is None:
            return datetime.now(UTC)
        real, simulated, speed = row
        return simulated + (datetime.now(UTC) - real) * speed

    def clock_mover(self) -> None:
        """A day forward every few seconds with `solde clock set` (it runs the close it passes);
        about a third of them are killed -9 mid-way, the close left to the worker's catch-up."""
        while not self.stop.wait(self.rng.uniform(4, 8)):
            try:
                at = self.platform_now()
            except psycopg.Error:
                self.driven["clock_move_failed"] += 1  # PostgreSQL cut: try again later
                continue
            args = ["clock", "set", (at + timedelta(days=1)).isoformat()]
            p = subprocess.Popen(
                [SOLDE, *args], env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
            kill_after = self.rng.uniform(1, 10) if self.rng.random() < 0.35 else 600
            try:
                _, err = p.communicate(timeout=kill_after)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
                self.kills["clock-set"] += 1
                self.driven["clock_set_killed"] += 1
                continue
            self.driven["clock_moved_1_day" if p.returncode == 0 else "clock_move_failed"] += 1
            if p.returncode:
                self.events.append(f"clock set: {err.decode(errors='replace')[-300:]}")

    def killer(self, every: tuple[float, float]) -> None:
        while not self.stop.wait(self.rng.uniform(*every)):
            name = self.rng.choice(PLATFORM)
            with self.lock:
                self.kill(name)
                self.kills[name] += 1
                self.stop.wait(self.rng.uniform(0.2, 2))
                self.start(name)

    def cut_postgres(self) -> None:
        with psycopg.connect(f"{self.server_url}/postgres", autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{self.db}" ALLOW_CONNECTIONS false')
            n = c.execute(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = %s",
                (self.db,),
            ).fetchone()[0]
            self.log(f"PostgreSQL cut: {n} backends of {self.db} terminated, connections refused")
            time.sleep(5)
            c.execute(f'ALTER DATABASE "{self.db}" ALLOW_CONNECTIONS true')
        self.log("PostgreSQL back")

    def restart_mosquitto(self) -> None:
        self.quit("mosquitto")
        time.sleep(3)
        self.start("mosquitto")
        self.log("Mosquitto restarted")

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict:
        started = time.monotonic()
        self.prepare()
        for name in ("mosquitto", "fake", "web", "worker", "headend"):
            self.start(name)
        # The listener's persistent session must exist before the meters publish: a broker drops
        # what it gets for a topic nobody has subscribed to yet (after acknowledging it).
        if not wait_for(lambda: "Listening on" in self.tail("headend"), 240):
            raise SystemExit("the head-end listener did not start: " + self.tail("headend"))
        self.start("meters")
        if not wait_for(lambda: requests.get(f"{self.site}/healthz", timeout=2).ok, 240):
            raise SystemExit("the web server did not start: " + self.tail("web"))
        self.log(f"platform up on {self.site}, MQTT on {self.mqtt_port}; chaos for "
                 f"{self.minutes} min")  # fmt: skip
        chaos_start = time.monotonic()
        threads = [threading.Thread(target=f, daemon=True) for f in
                   (self.partner_topups, self.online_payments, self.bank_imports,
                    self.clock_mover)]  # fmt: skip
        threads.append(threading.Thread(target=self.killer, args=((3, 8),), daemon=True))
        for t in threads:
            t.start()
        total = self.minutes * 60
        cut_pg_at, cut_mqtt_at = total * 0.35, total * 0.6
        while (elapsed := time.monotonic() - chaos_start) < total:
            self.load.append(os.getloadavg()[0])
            if cut_pg_at is not None and elapsed >= cut_pg_at:
                with self.lock:
                    self.cut_postgres()
                cut_pg_at = None
            if cut_mqtt_at is not None and elapsed >= cut_mqtt_at:
                with self.lock:
                    self.restart_mosquitto()
                cut_mqtt_at = None
            time.sleep(1)
        self.stop.set()
        for t in threads:
            t.join(timeout=660)
        chaos_seconds = time.monotonic() - chaos_start
        self.log("chaos over: quieting, letting the meters answer, draining")
        with self.lock:
            for name in PLATFORM:
                if self.procs[name].poll() is not None:
                    self.start(name)
        time.sleep(20)  # the listener applies what was queued; the meters answer their orders
        for name in ("web", "worker"):
            self.quit(name)
        drains = [self.solde(*args, timeout=600) for args in
                  (("work", "drain"), ("topups", "reconcile"), ("work", "drain"))]  # fmt: skip
        time.sleep(15)  # orders the drain issued reach the meters and come back
        self.quit("meters")
        self.settle()  # what the meters delivered is applied before the listener stops
        self.quit("headend")
        final = self.solde("work", "drain", timeout=600)
        verify = self.solde("ledger", "verify", timeout=600)
        results = self.check()
        results.update(
            minutes=round(chaos_seconds / 60, 1),
            total_minutes=round((time.monotonic() - started) / 60, 1),
            kills=dict(self.kills),
            driven=dict(self.driven),
            ledger_verify=(verify.returncode, (verify.stdout + verify.stderr).strip()[-400:]),
            events=self.events[-25:],
            load_average={
                "mean": round(sum(self.load) / len(self.load), 1) if self.load else None,
                "max": round(max(self.load), 1) if self.load else None,
                "cores": os.cpu_count(),
            },
            drains=[(d.returncode, (d.stdout + d.stderr).strip()[-300:]) for d in (*drains, final)],
        )
        for name in ("fake", "mosquitto"):
            self.quit(name)
        return results

    def settle(self, most: float = 180) -> None:
        """Wait until the listener has applied what the broker holds: the readings and order
        events stop changing for a few seconds (bounded)."""
        seen, deadline = None, time.monotonic() + most
        while time.monotonic() < deadline:
            time.sleep(4)
            with psycopg.connect(self.url) as c:
                now = c.execute(
                    "select (select count(*) from readings_reading),"
                    " (select count(*) from orders_orderevent)"
                ).fetchone()
            if now == seen:
                return
            seen = now
        self.log("the listener was still applying messages when the wait ended")

    def tail(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]

    # -- the invariants ----------------------------------------------------------------------
    def check(self) -> dict:
        q = psycopg.connect(self.url, autocommit=True)

        def one(sql: str, *args):
            return q.execute(sql, args).fetchone()

        def rows(sql: str, *args):
            return q.execute(sql, args).fetchall()

        out: dict = {"problems": []}
        bad = out["problems"]
        # Money: Σ stored customer balances = Σ of their entries, by kind of transaction.
        by_kind = dict(rows(
            "select t.kind, sum(e.amount_cents) from ledger_entry e join ledger_transaction t"
            " on t.id = e.transaction_id join ledger_ledgeraccount a on a.id = e.account_id"
            " where a.kind = 'customer_balance' group by t.kind"))  # fmt: skip
        stored = one("select coalesce(sum(balance_cents), 0) from ledger_ledgeraccount"
                     " where kind = 'customer_balance'")[0]  # fmt: skip
        out["balances_cents"] = stored
        out["balance_by_kind_cents"] = {k: int(v) for k, v in by_kind.items()}
        if stored != sum(by_kind.values()):
            bad.append(f"Σ balances {stored} ≠ Σ entries {sum(by_kind.values())}")
        topups_sum = one("select coalesce(sum(amount_cents), 0) from topups_topup")[0]
        if int(by_kind.get("topup", 0)) != topups_sum:
            bad.append(f"top-up postings {by_kind.get('topup')} ≠ Σ top-ups {topups_sum}")
        # Every answered partner top-up exists once, under its transaction id.
        got = dict(rows("select external_id, id from topups_topup where channel = 'retail'"
                        " and external_id like 'chaos-%%'"))  # fmt: skip
        dup = one("select count(*) from (select source_key from topups_topup group by"
                  " source_key having count(*) > 1) d")[0]  # fmt: skip
        missing = [tx for tx, tid in self.answered.items() if got.get(tx) != tid]
        out["partner_topups"] = {
            "answered": len(self.answered),
            "stored": len(got),
            "answer_not_stored": len(missing),
            "duplicate_keys": dup,
        }
        if missing or dup:
            bad.append(f"partner top-ups: {len(missing)} answered but not stored, {dup} doubled")
        # Every paid online payment has exactly one top-up.
        paid = rows(
            "select p.id, count(t.id) from topups_onlinepayment p left join topups_topup t on"
            " t.channel = 'online' and t.external_id = p.provider_payment_id where p.status ="
            " 'paid' group by p.id")  # fmt: skip
        wrong = [p for p, c in paid if c != 1]
        out["online_payments"] = {
            "paid": len(paid),
            "not_credited_once": len(wrong),
            "all": one("select count(*) from topups_onlinepayment")[0],
        }
        if wrong:
            bad.append(f"{len(wrong)} paid online payments without exactly one top-up")
        # Every bank line credited has one top-up; re-imports wrote nothing.
        out["bank"] = dict(rows("select outcome, count(*) from topups_bankline group by outcome"))
        out["bank"]["statements"] = one("select count(*) from topups_bankstatement")[0]
        out["bank"]["transfer_topups"] = one(
            "select count(*) from topups_topup where channel = 'transfer'")[0]  # fmt: skip
        # Readings: each stored once (the unique constraint), all messages of the inbox applied.
        out["readings"] = one("select count(*) from readings_reading")[0]
        out["readings_doubled"] = one(
            "select count(*) from (select 1 from readings_reading group by meter_id, register,"
            " at having count(*) > 1) d")[0]  # fmt: skip
        if out["readings_doubled"]:
            bad.append(f"{out['readings_doubled']} readings stored twice")
        # Account-days: every active account closed every day from its activation to yesterday,
        # once, with its display order.
        days = rows(
            "select a.id, count(d.id), count(distinct d.day), min(d.day), max(d.day) from"
            " prepayment_prepaymentaccount a left join prepayment_daycharge d on d.account_id ="
            " a.id where a.state = 'active' group by a.id")  # fmt: skip
        gaps = [a for a, n, nd, lo, hi in days if n != nd or (lo and (hi - lo).days + 1 != nd)]
        closed = sum(n for _, n, _, _, _ in days)
        out["account_days"] = {
            "closed": closed,
            "accounts": len(days),
            "gaps_or_doubles": len(gaps),
        }
        if gaps:
            bad.append(f"{len(gaps)} accounts with a day closed twice or a day missing")
        no_display = one(
            "select count(*) from prepayment_daycharge d where not exists (select 1 from"
            " orders_order o where o.key like 'close:' || d.day || ':' || d.account_id || ':%%')"
            )[0]  # fmt: skip
        out["account_days"]["without_display_order"] = no_display
        decisions = one("select count(*) from prepayment_creditdecision where day is not null")[0]
        out["account_days"]["decisions"] = decisions
        if no_display:
            bad.append(f"{no_display} account-days closed without their display order")
        # Days closed during the chaos (after the seeded ones), and every active account closed
        # up to the platform's last closed day unless it waits for data or a price.
        seeded = getattr(self, "seeded_last_day", None)
        under, days_under, last_day = one(
            "select count(*), count(distinct day), max(day) from prepayment_daycharge"
            " where day > %s", seeded or datetime(1970, 1, 1).date())  # fmt: skip
        platform_last = one(
            "select max(day) from prepayment_closerun where ean = '' and finished_at is not null"
        )[0]
        behind = rows(
            "select waiting_reason, count(*) from prepayment_prepaymentaccount where state ="
            " 'active' and (last_closed_day is null or last_closed_day < %s) group by"
            " waiting_reason", platform_last)  # fmt: skip
        out["account_days"].update(
            seeded_up_to=str(seeded),
            closed_under_chaos=under,
            days_closed_under_chaos=days_under,
            last_closed=str(last_day),
            platform_last_closed_day=str(platform_last),
            behind_waiting={k or "not waiting": v for k, v in behind},
        )
        unexplained = sum(v for k, v in behind if not k)
        if unexplained:
            bad.append(
                f"{unexplained} active accounts not closed up to the platform's last closed day"
                " and not waiting for data or a price"
            )
        # Orders: none lost (every order final or still legitimately waiting) nor sent twice.
        out["orders"] = dict(rows("select status, count(*) from orders_order group by status"))
        twice = one(
            "select count(*) from (select order_id from orders_orderevent where status = 'sent'"
            " group by order_id having count(*) > 1) d")[0]  # fmt: skip
        out["orders_duplicate_answers"] = one(
            "select count(*) from orders_orderevent where kind = 'duplicate'")[0]  # fmt: skip
        out["orders_pending"] = one(
            "select count(*) from orders_order where status in ('created', 'sent',"
            " 'acknowledged')")[0]  # fmt: skip
        out["orders_sent_more_than_once"] = twice
        out["work"] = dict(rows("select status, count(*) from solde_workitem group by status"))
        broker_log = self.tmp / "mosquitto.log"
        if broker_log.exists() and "Error saving" in broker_log.read_text(errors="replace"):
            bad.append("Mosquitto could not save its persistence file: its restart lost messages")
        if self.journal.exists():
            self.check_journal(q, out)
        else:
            bad.append("the meters' journal was not written")
        q.close()
        return out

    def check_journal(self, q: psycopg.Connection, out: dict) -> None:
        """What the meters delivered (their journal) against what the database stored."""
        bad = out["problems"]
        records, torn = read_journal(self.journal)
        readings: set[tuple[str, str, str, int]] = set()
        executions: dict[int, set[str]] = {}  # order id -> the instants it was executed
        executed_by: dict[int, tuple[str, str]] = {}  # order id -> (meter, kind)
        results: Counter[str] = Counter()
        for r in records:
            if r["leaf"] == "readings":
                for row in r["payload"]["readings"]:
                    milli = int(Decimal(row["value"]) * 1000)
                    readings.add((r["meter"], row["register"], row["at"], milli))
            elif r["leaf"] == "order-results":
                status = r["payload"].get("status")
                results[f"{status}_again" if r.get("again") else status] += 1
                if status == "executed" and not r.get("again"):
                    oid = int(r["payload"]["order_id"])
                    executions.setdefault(oid, set()).add(r["payload"]["at"])
                    executed_by[oid] = (r["meter"], r.get("order_kind") or "")
        q.execute(
            "create temp table chaos_journal (serial text, register text, at timestamptz,"
            " value_milli bigint)"
        )
        with q.cursor().copy(
            "copy chaos_journal (serial, register, at, value_milli) from stdin"
        ) as copy:
            for row in readings:
                copy.write_row(row)
        q.execute("analyze chaos_journal")

        def one(sql: str):
            return q.execute(sql).fetchone()

        # One row per (meter, register, instant): a meter that sent two values for one instant
        # would be a simulator fault, counted apart.
        two_values = one(
            "select count(*) from (select 1 from chaos_journal group by serial, register, at"
            " having count(*) > 1) d")[0]  # fmt: skip
        unknown, missing, altered = one(
            "select count(*) filter (where m.id is null),"
            " count(*) filter (where m.id is not null and r.id is null),"
            " count(*) filter (where r.value_milli <> j.value_milli)"
            " from chaos_journal j left join registry_meter m on m.serial = j.serial"
            " left join readings_reading r on r.meter_id = m.id and r.register = j.register"
            " and r.at = j.at")  # fmt: skip
        examples = q.execute(
            "select j.serial, j.register, j.at, j.value_milli, r.value_milli from chaos_journal j"
            " join registry_meter m on m.serial = j.serial left join readings_reading r on"
            " r.meter_id = m.id and r.register = j.register and r.at = j.at where r.id is null"
            " or r.value_milli <> j.value_milli order by j.at limit 5").fetchall()  # fmt: skip
        rejected = dict(
            q.execute("select reason, count(*) from readings_rejectedreading group by reason")
        )
        out["journal"] = {
            "lines": len(records),
            "torn_lines": torn,
            "readings_delivered": len(readings),
            "readings_missing": missing,
            "readings_altered": altered,
            "readings_of_unknown_meters": unknown,
            "readings_two_values": two_values,
            "readings_rejected_by_reason": rejected,
            "results_by_status": dict(results),
        }
        if missing or altered or unknown or two_values:
            bad.append(
                f"meter readings delivered vs stored: {missing} missing, {altered} altered, "
                f"{unknown} of unknown meters, {two_values} with two values; e.g. "
                + "; ".join(f"{s} {reg} {at:%Y-%m-%d %H:%M} sent {v} stored {got}"
                            for s, reg, at, v, got in examples)
            )  # fmt: skip
        # Orders: what the meters executed against the orders and their events.
        orders = {
            pk: (serial, kind, status)
            for pk, serial, kind, status in q.execute(
                "select o.id, m.serial, o.kind, o.status from orders_order o join registry_meter"
                " m on m.id = o.meter_id"
            )  # fmt: skip
        }
        events: Counter[tuple[int, str]] = Counter(
            {
                (pk, kind): n
                for pk, kind, n in q.execute(
                    "select order_id, kind, count(*) from orders_orderevent"
                    " where status = 'executed' group by order_id, kind"
                )
            }  # fmt: skip
        )
        twice = sorted(pk for pk, ats in executions.items() if len(ats) > 1)
        unknown_orders, not_recorded, late, wrong = [], [], [], []
        for pk, (serial, kind) in executed_by.items():
            known = orders.get(pk)
            if known is None:
                unknown_orders.append(pk)
            elif (serial, kind) != known[:2]:
                wrong.append(pk)
            elif known[2] == "executed" and events[(pk, "status")] == 1:
                pass
            elif known[2] in ("superseded", "cancelled", "expired") and events[(pk, "late_result")]:
                late.append(pk)  # replaced or given up before the meter's answer came: kept
            else:
                not_recorded.append(pk)
        db_executed = {pk for pk, (_, _, status) in orders.items() if status == "executed"}
        phantom = sorted(db_executed - set(executed_by))
        recorded_twice = sorted(pk for pk in db_executed if events[(pk, "status")] > 1)
        out["meter_orders"] = {
            "executed_by_meters": len(executed_by),
            "recorded_executed": len(executed_by) - len(not_recorded + late + wrong
                                                        + unknown_orders),
            "executed_after_superseded_or_expired": len(late),
            "executed_twice_by_a_meter": len(twice),
            "executed_not_recorded": len(not_recorded),
            "recorded_executed_never_executed": len(phantom),
            "recorded_executed_twice": len(recorded_twice),
            "other_meter_or_kind": len(wrong),
            "unknown_to_the_platform": len(unknown_orders),
        }  # fmt: skip
        for what, ids in (
            ("executed twice by a meter", twice),
            ("executed by a meter, not recorded as executed", not_recorded),
            ("recorded as executed, never executed by a meter", phantom),
            ("recorded as executed twice", recorded_twice),
            ("executed by another meter or as another kind than recorded", wrong),
            ("executed by a meter, unknown to the platform", unknown_orders),
        ):
            if ids:
                bad.append(f"{len(ids)} orders {what}: {ids[:10]}")


def read_journal(path: Path) -> tuple[list[dict], int]:
    """The records of the meters' journal (solde.headend.simulator.Journal) and how many lines
    were torn by a kill mid-write (that batch stayed in the outbox and was journaled again)."""
    records, torn = [], 0
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                torn += 1
    return records, torn


def report(results: dict, path: Path) -> None:
    ok = not results["problems"] and results["ledger_verify"][0] == 0
    kills = sum(results["kills"].values())
    lines = [
        "# Reliability: the chaos suite",
        "",
        "Written by `make chaos` (`python -m tests.chaos.run --minutes N --report`), issue 9.",
        "",
        f"- Run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; chaos for {results['minutes']} min "
        f"({results['total_minutes']} min with set-up, drain and checks).",
        f"- Kills (`kill -9` of the process group, then a restart): {kills} — "
        + ", ".join(f"{k} {v}" for k, v in sorted(results["kills"].items())),
        "- PostgreSQL cut once: every backend of the run's database terminated "
        "(pg_terminate_backend) and new connections refused for 5 s (ALLOW_CONNECTIONS false). "
        "The shared server itself is not restarted.",
        "- Mosquitto (a private one on a random 127.0.0.1 port, persistence on) restarted once.",
        "- Driven: " + ", ".join(f"{k} {v}" for k, v in sorted(results["driven"].items())),
        f"- Load average (1 min) during the chaos: mean {results['load_average']['mean']}, "
        f"max {results['load_average']['max']}, on {results['load_average']['cores']} cores "
        "(a machine shared with other work).",
        "",
        f"## Result: {'all invariants hold' if ok else 'INVARIANTS BROKEN'}",
        "",
        f"- `solde ledger verify`: exit {results['ledger_verify'][0]} — "
        f"{results['ledger_verify'][1].splitlines()[-1] if results['ledger_verify'][1] else ''}",
        f"- Σ customer balances: {results['balances_cents']} cents = Σ postings by kind "
        f"{results['balance_by_kind_cents']}",
        f"- Partner top-ups: {results['partner_topups']}",
        f"- Online payments: {results['online_payments']}",
        f"- Bank lines by outcome: {results['bank']}",
        f"- Readings stored: {results['readings']}, stored twice: {results['readings_doubled']}",
        f"- Account-days: {results['account_days']}",
        f"- What the meters delivered (their journal: messages the broker acknowledged) against "
        f"the database: {results.get('journal')}",
        f"- Orders the meters executed against the database: {results.get('meter_orders')}",
        f"- Orders by status: {results['orders']}; sent more than once: "
        f"{results['orders_sent_more_than_once']}",
        f"- Durable work rows: {results['work']}",
        "",
        "Problems: " + ("; ".join(results["problems"]) or "none"),
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    p.add_argument("--database", default="solde_chaos_run")
    p.add_argument("--meters", type=int, default=40)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--report", type=Path, default=None, help="write RELIABILITY.md there")
    a = p.parse_args(argv)
    run = Run(a.minutes, a.server, a.database, a.seed, a.meters)
    try:
        results = run.run()
    finally:
        for name in list(run.procs):
            run.quit(name)
    print(json.dumps(results, indent=1, default=str))
    if a.report:
        report(results, a.report)
    ok = not results["problems"] and results["ledger_verify"][0] == 0
    print(
        "CHAOS:", "all invariants hold" if ok else "INVARIANTS BROKEN: " + str(results["problems"])
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
