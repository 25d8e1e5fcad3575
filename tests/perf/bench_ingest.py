"""Ingestion benchmark: one day of quarter-hourly readings for 10,000 electricity meters × 2
offtake registers (1.92 M rows), imported with `solde import-readings`, on PostgreSQL and on
SQLite. Compared with a bare `COPY` of the same file into an unindexed table in the same run.

Each import runs as its own process (the real command), so its peak memory is measured alone
(`os.wait4`). The fleet is made first (supply points, meters, active accounts); the day imported
is two days ago, so nothing is in the future and the day is not closed yet.

`python -m tests.perf.bench_ingest` runs it alone (SOLDE_PG_URL, SOLDE_BENCH_SCALE).
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
BRUSSELS = ZoneInfo("Europe/Brussels")
DATABASE = "solde_bench_ingest"
METERS = 10_000
REGISTERS = ("1.8.1", "1.8.2")
BATCH = 50_000
EAN_BODY = "541449900"  # + 8 digits + check digit: made-up EANs, never real ones


def _ean(n: int) -> str:
    from stdnum import ean

    body = f"{EAN_BODY}{n:08d}"
    return body + ean.calc_check_digit(body)


def _serial(n: int) -> str:
    return f"BENCH{n:07d}"


def _quarter_hours(day: date) -> list[tuple[str, int]]:
    """The day's quarter-hour instants (ISO with offset) and their local hour. 92/96/100."""
    start = datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).astimezone(UTC)
    end_local = day + timedelta(days=1)
    end = datetime(end_local.year, end_local.month, end_local.day, tzinfo=BRUSSELS)
    out, t = [], start
    while t < end.astimezone(UTC):
        local = t.astimezone(BRUSSELS)
        out.append((local.isoformat(), local.hour))
        t += timedelta(minutes=15)
    return out


def write_csv(path: Path, meters: int, day: date) -> int:
    """Plausible load profiles: a base load, a morning and an evening peak; the day register
    (1.8.1) advances 07:00–22:00, the night one (1.8.2) the rest of the time."""
    rng = random.Random(42)
    instants = _quarter_hours(day)
    shape = {h: 0.6 + (1.4 if 7 <= h < 9 else 0) + (2.2 if 18 <= h < 22 else 0) for h in range(24)}
    count = 0
    with open(path, "w", newline="") as out:
        out.write("ean,meter,register,at,value,unit\n")
        for n in range(meters):
            ean, serial = _ean(n), _serial(n)
            size = rng.uniform(0.03, 0.12)  # kWh per quarter-hour at base load
            lines = []
            for register in REGISTERS:
                index = rng.randrange(1_000_000, 50_000_000)  # thousandths of kWh
                day_register = register == "1.8.1"
                for at, hour in instants:
                    if day_register == (7 <= hour < 22):
                        index += int(size * shape[hour] * rng.uniform(0.5, 1.5) * 1000)
                    lines.append(
                        f"{ean},{serial},{register},{at},{index // 1000}.{index % 1000:03d},kWh\n"
                    )
            out.write("".join(lines))
            count += len(lines)
    return count


def make_fleet(meters: int, day: date) -> None:
    """(Subprocess, Django set up) supply points, meters and active accounts, in bulk."""
    import django

    django.setup()
    from django.db import transaction

    from solde.identifiers import customer_reference
    from solde.ledger.models import LedgerAccount
    from solde.prepayment.models import PrepaymentAccount
    from solde.registry.models import Customer, Dso, Meter, SupplyPoint

    dso = Dso.objects.get(code="RESA")
    activated = datetime(day.year, day.month, day.day, tzinfo=BRUSSELS) - timedelta(days=1)
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            [Customer(first_name="Bench", last_name=f"Client {n}") for n in range(meters)],
            batch_size=2000,
        )
        points = SupplyPoint.objects.bulk_create(
            [
                SupplyPoint(
                    ean=_ean(n),
                    dso=dso,
                    energy="electricity",
                    customer=customers[n],
                    tariff_category="average",
                    customer_reference=customer_reference(_ean(n)),
                    street="Rue du Banc d'Essai",
                    number=str(n),
                    postcode="4000",
                    city="Liège",
                )
                for n in range(meters)
            ],
            batch_size=2000,
        )
        Meter.objects.bulk_create(
            [
                Meter(serial=_serial(n), supply_point=points[n], registers=list(REGISTERS))
                for n in range(meters)
            ],
            batch_size=2000,
        )
        ledger = LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(kind=kind, code=f"{kind}:{sp.ean}")
                for sp in points
                for kind in ("customer_balance", "advance")
            ],
            batch_size=2000,
        )
        PrepaymentAccount.objects.bulk_create(
            [
                PrepaymentAccount(
                    supply_point=sp,
                    state="active",
                    balance_account=ledger[2 * i],
                    advance_account=ledger[2 * i + 1],
                    activated_at=activated,
                    activation_day=activated.date(),
                    last_closed_day=day - timedelta(days=1),
                )
                for i, sp in enumerate(points)
            ],
            batch_size=2000,
        )


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def prepare(env: dict[str, str], meters: int, day: date) -> None:
    _run([sys.executable, "-m", "solde", "migrate", "-v0"], env)
    _run([sys.executable, "-m", "tests.perf.bench_ingest", "fleet", str(meters), str(day)], env)


def timed_import(env: dict[str, str], path: Path) -> tuple[float, float, str]:
    """Run `solde import-readings`; (wall seconds, peak RSS MiB of that process, its output)."""
    args = [sys.executable, "-m", "solde", "import-readings", str(path), "--batch-size", str(BATCH)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"import failed:\n{output}")
    return elapsed, usage.ru_maxrss / 1024, output  # ru_maxrss is KiB on Linux


def _database_url(pg_url: str, name: str) -> str:
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(pg_url: str) -> str:
    import psycopg

    with psycopg.connect(_database_url(pg_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return _database_url(pg_url, DATABASE)


BARE = "ean text, meter text, register text, at timestamptz, value numeric(18, 3), unit text"
INDEXED = (
    "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
    + BARE
    + ", UNIQUE (meter, register, at)"
)


def bare_copy(url: str, path: Path, columns: str = BARE) -> tuple[float, int]:
    """COPY the same CSV into a typed table (no index nor key by default), streamed from this
    client, timed with its commit."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE bench_bare_copy ({columns})")
        conn.commit()
        names = "ean, meter, register, at, value, unit"
        started = time.perf_counter()
        with conn.cursor() as cur, open(path, "rb") as source:
            with cur.copy(
                f"COPY bench_bare_copy ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as cp:
                while block := source.read(1 << 20):
                    cp.write(block)
        conn.commit()
        elapsed = time.perf_counter() - started
        (rows,) = conn.execute("SELECT count(*) FROM bench_bare_copy").fetchone() or (0,)
        conn.execute("DROP TABLE bench_bare_copy")
        conn.commit()
    return elapsed, rows


def _count_pg(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        readings = conn.execute("SELECT count(*) FROM readings_reading").fetchone()
        rejected = conn.execute("SELECT count(*) FROM readings_rejectedreading").fetchone()
    return (readings[0] if readings else 0), (rejected[0] if rejected else 0)


def _count_sqlite(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        readings = conn.execute("SELECT count(*) FROM readings_reading").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM readings_rejectedreading").fetchone()[0]
    return readings, rejected


def _summary_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "rows/s" in line]
    return lines[-1] if lines else "?"


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    meters = max(10, round(METERS * scale))
    day = datetime.now(BRUSSELS).date() - timedelta(days=2)
    base_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "solde.settings",
        "SOLDE_SIMULATION": "0",
    }
    with tempfile.TemporaryDirectory(prefix="solde-bench-ingest-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "readings.csv"
        started = time.perf_counter()
        rows = write_csv(csv_path, meters, day)
        generated = time.perf_counter() - started
        size_mb = csv_path.stat().st_size / 2**20
        print(f"   {rows:,} rows ({size_mb:.0f} MiB) generated in {generated:.0f} s", flush=True)

        pg_db = recreate_database(pg_url)
        pg_env = {**base_env, "SOLDE_DATABASE_URL": pg_db, "SOLDE_DATA_DIR": tmp}
        prepare(pg_env, meters, day)
        pg_time, pg_mem, pg_out = timed_import(pg_env, csv_path)
        pg_rows, pg_rejected = _count_pg(pg_db)
        copy_time, copy_rows = bare_copy(pg_db, csv_path)
        indexed_time, _rows = bare_copy(pg_db, csv_path, INDEXED)
        print(
            f"   PostgreSQL: import {pg_time:.1f} s, bare COPY {copy_time:.1f} s, "
            f"COPY with the readings' two indexes {indexed_time:.1f} s",
            flush=True,
        )

        sqlite_path = folder / "bench.sqlite3"
        sqlite_env = {
            **base_env,
            "SOLDE_DATABASE_URL": f"sqlite:///{sqlite_path}",
            "SOLDE_DATA_DIR": tmp,
        }
        prepare(sqlite_env, meters, day)
        sq_time, sq_mem, sq_out = timed_import(sqlite_env, csv_path)
        sq_rows, sq_rejected = _count_sqlite(sqlite_path)
        print(f"   SQLite: import {sq_time:.1f} s", flush=True)

    ratio = pg_time / copy_time if copy_time else float("nan")
    indexed_ratio = indexed_time / copy_time if copy_time else float("nan")
    extra_us = (pg_time - indexed_time) / rows * 1e6
    pg_line = (
        f"| PostgreSQL (COPY path) | {pg_rows:,} | {pg_rejected:,} | {pg_time:.1f} "
        f"| {rows / pg_time:,.0f} | {pg_mem:.0f} MiB |"
    )
    sq_line = (
        f"| SQLite | {sq_rows:,} | {sq_rejected:,} | {sq_time:.1f} | {rows / sq_time:,.0f} "
        f"| {sq_mem:.0f} MiB |"
    )
    ok_ratio = "met" if ratio <= 2 else "NOT met"
    ok_memory = "met" if max(pg_mem, sq_mem) < 500 else "NOT met"
    return f"""## Ingestion (`solde import-readings`)

One day ({day}) of quarter-hourly indexes for {meters:,} electricity meters × 2 offtake
registers: **{rows:,} rows**, a {size_mb:.0f} MiB CSV sorted by meter, imported with
`solde import-readings FILE --batch-size {BATCH:,}` into a fleet of {meters:,} active accounts
(fresh database `{DATABASE}` on PostgreSQL; a temporary file on SQLite). Times are the wall time
of the whole command (process start, Django set-up, every batch's transaction). Peak
memory is the import process's maximum resident set (`os.wait4`).

| database | rows stored | rejected | seconds | rows/s | peak memory |
|---|---:|---:|---:|---:|---:|
{pg_line}
{sq_line}

Baseline, same run: a bare `COPY … FROM STDIN (FORMAT csv)` of the same file from a client into
an unindexed table ({copy_rows:,} rows): **{copy_time:.1f} s** ({copy_rows / copy_time:,.0f}
rows/s). Import / bare COPY on PostgreSQL: **{ratio:.2f}×** (target ≤ 2×, issue 8: {ok_ratio}).
Peak memory target < 500 MB: {ok_memory}.

For scale, the same file COPYed into a table with the readings table's two indexes (identity
key, unique meter/register/instant) and nothing else — no validation, no Python:
**{indexed_time:.1f} s** ({indexed_ratio:.2f}× the bare COPY). What the import adds on top is
Python reading, checking and judging each row ({extra_us:.1f} µs a row), partly overlapped with the
database's work: the next batch is read and checked while the current one is written.

The command's own summary: PostgreSQL `{_summary_line(pg_out)}`; SQLite `{_summary_line(sq_out)}`.
"""


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fleet":
        make_fleet(int(sys.argv[2]), date.fromisoformat(sys.argv[3]))
    else:
        print(run(os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")))
