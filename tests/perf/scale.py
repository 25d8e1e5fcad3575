"""`make bench-scale`: the daily close of a million accounts and the credit-control run it
triggers, on PostgreSQL (issue 8, "Belgian scale").

Not a `bench_*` module: `make bench` (tests/perf/run.py) does not run it; it takes long. A fresh
database (`solde_bench_scale`) gets 1,000,000 active electricity accounts with bench_close's
loader (COPY, streamed), the day's midnight indexes and the daily indexes the close of the day
before wrote (the steady state of a platform that closes every day). Then, in the same run:

- `bare`: bench_close's one SQL statement computing the same charges and writing them
  (transactions, entries, day charges, balances), rolled back — the close's baseline;
- `close`: `close_day` without its credit-control work (charges, recoveries, daily indexes,
  credit states, events, the work items);
- `credit run`: that work — credit control's decisions and a balance display order for every
  closed account (whatever code credit control has), against bench_decisions' baseline with
  writes (the SELECT + UPDATE below plus the display orders and desired displays written
  set-based, rolled back); split in its `display step` (the time inside
  `credit_control.issue_displays`) and its `decisions` (the rest), the latter against
  bench_decisions' set-based SELECT + UPDATE of the same accounts' credit state, rolled back.

Targets: close + credit run under 5 minutes; the close ≤ 2× bare; the credit run ≤ 2× its
baseline. The same total is charged as the bare statement computes, and `solde ledger verify`
passes after. Writes its section into BENCHMARKS.md (replacing the one of the same heading).
`SOLDE_BENCH_SCALE` shrinks the size (0.1 = 100,000 accounts, for a check while developing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = 1_000_000
DB_NAME = "solde_bench_scale"
TARGET_SECONDS = 300
TARGET_RATIO = 2
HEADING = "## The daily close at a million accounts (`make bench-scale`)"


def main() -> None:
    from tests.perf.fixtures import recreate_database
    from tests.perf.run import machine, merged

    pg_url = os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    n = max(1000, int(ACCOUNTS * scale))
    base, _, _ = pg_url.rpartition("/")
    name = os.environ.get("SOLDE_BENCH_SCALE_DB", DB_NAME)
    recreate_database(base, name)
    started = time.perf_counter()
    env = {
        **os.environ,
        "SOLDE_DATABASE_URL": f"{base}/{name}",
        "DJANGO_SETTINGS_MODULE": "solde.settings",
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "SOLDE_SIMULATION": "0",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.perf.scale", "--worker", str(n)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"the scale benchmark failed (exit {out.returncode}); see above")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    section = report(r, scale, machine(), time.perf_counter() - started)
    path = ROOT / "BENCHMARKS.md"
    head = path.read_text().split("\n## ")[0] if path.exists() else "# Benchmarks\n"
    path.write_text(head.rstrip() + "\n\n" + "\n\n".join(merged([section])) + "\n")
    print(section)


def report(r: dict, scale: float, machine: str, wall: float) -> str:
    close, bare = r["close_s"] - r["credit_s"], r["bare_s"]
    credit, credit_base = r["credit_s"], r["credit_baseline_s"]
    displays, writes_base = r["displays_s"], r["credit_baseline_writes_s"]
    decisions = credit - displays
    total = r["close_s"]
    close_ratio = close / bare if bare else float("nan")
    credit_ratio = decisions / credit_base if credit_base else float("nan")
    whole_ratio = credit / writes_base if writes_base else float("nan")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    return "\n".join(
        [
            HEADING,
            "",
            f"Written on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. Machine: {machine}. "
            f"Load average (1 min) at the start: {r['load_start']:.1f}, at the end: "
            f"{r['load_end']:.1f}."
            + ("" if scale == 1 else f" **Scale {scale}: not the target size.**"),
            "",
            f"{r['accounts']:,} active electricity accounts (two charged registers, midnight "
            "indexes and the day before's daily indexes loaded, both DSOs and tariff categories, "
            "advances being recovered), database `solde_bench_scale`; closing one day. "
            "`bare` = one SQL statement computing the same charges and writing them "
            "(transactions, entries, day charges, balances), rolled back. `close` = "
            "`close_day` without its credit-control work. `credit run` = that work: credit "
            "control's decisions and a balance display order per closed account; its baseline "
            "is bench_decisions' baseline with writes (the SELECT + UPDATE below plus a display "
            "order per account and the desired displays, set-based SQL, rolled back). It splits "
            "in its `display step` (time inside `credit_control.issue_displays`: display "
            "params, orders, supersession, desired displays) and its `decisions` (the rest: "
            "reads, rules, verdicts and their decisions, orders and events), whose baseline "
            "is bench_decisions' set-based SELECT + UPDATE of the same accounts' credit state, "
            "rolled back.",
            "",
            "| step | seconds | baseline s | ratio | target |",
            "|---|---:|---:|---:|---|",
            f"| setup (COPY, streamed) | {r['setup_s']:.0f} | | | |",
            f"| close | {close:.1f} | {bare:.1f} | {close_ratio:.2f}× | ≤ {TARGET_RATIO}× "
            f"bare: {verdict(close_ratio <= TARGET_RATIO)} |",
            f"| credit run | {credit:.1f} | {writes_base:.1f} | {whole_ratio:.2f}× | "
            f"≤ {TARGET_RATIO}× baseline with writes: {verdict(whole_ratio <= TARGET_RATIO)} |",
            f"| credit run: decisions | {decisions:.1f} | {credit_base:.1f} | "
            f"{credit_ratio:.2f}× | ≤ {TARGET_RATIO}× baseline: "
            f"{verdict(credit_ratio <= TARGET_RATIO)} |",
            f"| credit run: display step | {displays:.1f} | | | |",
            f"| **close + credit run** | **{total:.1f}** | | | < {TARGET_SECONDS} s: "
            f"{verdict(total < TARGET_SECONDS)} |",
            f"| rerun (nothing to do) | {r['rerun_s']:.2f} | | | |",
            "",
            f"Closed {r['closed']:,} account-days, {r['display_orders']:,} balance display "
            f"orders; charged {r['charged_cents'] / 100:,.2f} €, the same as the bare "
            f"statement; {r['daily_indexes']:,} daily index rows written; `solde ledger verify` "
            f"passes ({r['verify_s']:.0f} s). Whole run {wall / 60:.1f} min.",
        ]
    )


def _worker(n: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Sum

    from solde import clock, work
    from solde.ledger.services import verify
    from solde.orders.models import Order
    from solde.prepayment import credit_control
    from solde.prepayment.close import CREDIT_WORK, close_day
    from solde.prepayment.models import DayCharge, PrepaymentAccount
    from solde.readings.models import DailyIndex
    from tests.perf.bench_close import DAY, _bare, _setup, _TimedHandler
    from tests.perf.bench_decisions import _baseline as credit_baseline

    load_start = os.getloadavg()[0]
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    _setup(n, yesterday_indexes=True)
    setup_s = time.perf_counter() - t0
    _log(f"setup {setup_s:.0f} s")
    bare_s, _, bare_total = _bare()
    _log(f"bare {bare_s:.1f} s")
    ids = list(PrepaymentAccount.objects.values_list("pk", flat=True))
    credit_base_s = credit_baseline(ids)
    _log(f"credit baseline {credit_base_s:.1f} s")
    credit_writes_s = credit_baseline(ids, writes=True)
    _log(f"credit baseline with writes {credit_writes_s:.1f} s")
    credit = _TimedHandler(work.HANDLERS[CREDIT_WORK])
    work.HANDLERS[CREDIT_WORK] = credit
    displays = _Timed(credit_control.issue_displays)
    credit_control.issue_displays = displays
    with clock.freeze(datetime(2026, 11, 28, 5, tzinfo=clock.BRUSSELS)):
        t0 = time.perf_counter()
        result = close_day(DAY, trigger="bench")
        close_s = time.perf_counter() - t0
        _log(f"close {close_s:.1f} s (credit run {credit.seconds:.1f} s)")
        t0 = time.perf_counter()
        close_day(DAY, trigger="bench")
        rerun_s = time.perf_counter() - t0
    if result.closed != n:
        raise RuntimeError(f"closed {result.closed} of {n} accounts")
    total = DayCharge.objects.filter(day=DAY).aggregate(s=Sum("charge_cents"))["s"]
    if total != bare_total:
        raise RuntimeError(f"close charged {total} cents, the bare statement {bare_total}")
    t0 = time.perf_counter()
    if not verify().ok:
        raise RuntimeError("the ledger does not verify after the close")
    verify_s = time.perf_counter() - t0
    return {
        "accounts": n,
        "setup_s": setup_s,
        "bare_s": bare_s,
        "credit_baseline_s": credit_base_s,
        "close_s": close_s,
        "credit_s": credit.seconds,
        "credit_baseline_writes_s": credit_writes_s,
        "displays_s": displays.seconds,
        "rerun_s": rerun_s,
        "closed": result.closed,
        "charged_cents": total,
        "display_orders": Order.objects.filter(kind="display_balance").count(),
        "daily_indexes": DailyIndex.objects.filter(day=DAY).count(),
        "verify_s": verify_s,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }


class _Timed:
    """A function timed across its calls (the credit run's display step)."""

    def __init__(self, function) -> None:
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def _log(message: str) -> None:
    print(f"   {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(_worker(int(sys.argv[2]))))
    else:
        main()
