"""Ingestion benchmark: one day of quarter-hourly readings for 10,000 electricity meters × 2
offtake registers (1.92 M rows), imported with `solde import-readings`, on PostgreSQL and on
SQLite. Compared in the same run with two floors: a bare `COPY` of the same file into an
unindexed text table, and a `COPY` of the same rows, typed as the import writes them (binary:
meter id, register, instant, thousandths), into a table shaped like the readings table (range
partitioned on the instant, identity id, the one unique (meter, register, instant) index).

Each import runs as its own process (the real command), so its peak memory and CPU time are
measured alone (`os.wait4`); the CPU time of its PostgreSQL backends is read from /proc while it
runs. The fleet is made first (supply points, meters, active accounts); the day imported is two
days ago, so nothing is in the future and the day is not closed yet. A quarter of the file is
imported first (its peak memory, to show it does not grow with the file), then removed.

`python -m tests.perf.bench_ingest` runs it alone (SOLDE_PG_URL, SOLDE_BENCH_SCALE). The
database is `<SOLDE_PG_URL's database>_bench_ingest` (`solde_bench_ingest` by default).
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
BRUSSELS = ZoneInfo("Europe/Brussels")
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


class Imported(NamedTuple):
    wall: float  # seconds, the whole command
    memory: float  # peak RSS of the command, MiB
    output: str
    cpu: float  # the command's own CPU seconds (user + system)
    backend_cpu: float  # its PostgreSQL backends' CPU seconds (0 on SQLite)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int | str) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _BackendCpu:
    """Samples the CPU time of the PostgreSQL backends connected to one database (their process
    title names it) every 20 ms while a command runs; `total` is the last sample of each."""

    def __init__(self, database: str | None):
        self.tag = f" {database} ".encode() if database else None
        self.seen: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while self.tag and not self.done.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes()
                    if title.startswith(b"postgres:") and self.tag in title:
                        self.seen[pid] = _cpu_of(pid)
                except OSError:
                    continue
            self.done.wait(0.02)

    def __enter__(self) -> _BackendCpu:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    @property
    def total(self) -> float:
        return sum(self.seen.values())


def timed_import(env: dict[str, str], path: Path, database: str | None = None) -> Imported:
    """Run `solde import-readings`; its wall time, peak RSS, output and CPU time, and the CPU
    time of its backends on `database` (PostgreSQL)."""
    args = [sys.executable, "-m", "solde", "import-readings", str(path), "--batch-size", str(BATCH)]
    with _BackendCpu(database) as backends:
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
    cpu = usage.ru_utime + usage.ru_stime
    # ru_maxrss is KiB on Linux
    return Imported(elapsed, usage.ru_maxrss / 1024, output, cpu, backends.total)


def _database_url(pg_url: str, name: str) -> str:
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(pg_url: str) -> str:
    """The benchmark's own database, named after SOLDE_PG_URL's (`solde` → `solde_bench_ingest`)
    so that runs on one server with different URLs never drop each other's."""
    return f"{urlsplit(pg_url).path.lstrip('/') or 'solde'}_bench_ingest"


def recreate_database(pg_url: str) -> str:
    import psycopg

    name = database_name(pg_url)
    with psycopg.connect(_database_url(pg_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _database_url(pg_url, name)


BARE = "ean text, meter text, register text, at timestamptz, value numeric(18, 3), unit text"
# The readings table's shape (migrations readings 0004 and 0005): the import's four typed
# columns, an identity id drawn by the server 32 at a time, range partitions on the instant,
# one unique index.
SHAPED = """
CREATE TABLE bench_shaped (
    id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 32), meter_id bigint NOT NULL,
    register varchar(10) NOT NULL, at timestamptz NOT NULL, value_milli bigint NOT NULL,
    UNIQUE (meter_id, register, at)
) PARTITION BY RANGE (at);
CREATE TABLE bench_shaped_before PARTITION OF bench_shaped FOR VALUES FROM (MINVALUE) TO (%(lo)s);
CREATE TABLE bench_shaped_month PARTITION OF bench_shaped FOR VALUES FROM (%(lo)s) TO (%(hi)s);
CREATE TABLE bench_shaped_after PARTITION OF bench_shaped FOR VALUES FROM (%(hi)s) TO (MAXVALUE);
"""


class Copied(NamedTuple):
    wall: float  # seconds, the COPY and its commit
    rows: int
    cpu: float  # this client's CPU seconds
    backend_cpu: float  # the backend's CPU seconds


def _timed_copy(conn: object, sql: str, path: Path) -> tuple[float, float, float]:
    """Stream `path` into `COPY … FROM STDIN` and commit: (wall, client CPU, backend CPU)."""
    backend = conn.info.backend_pid  # type: ignore[attr-defined]
    backend_before, cpu_before = _cpu_of(backend), time.process_time()
    started = time.perf_counter()
    with conn.cursor() as cur, open(path, "rb") as source:  # type: ignore[attr-defined]
        with cur.copy(sql) as cp:
            while block := source.read(1 << 20):
                cp.write(block)
    conn.commit()  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    return elapsed, time.process_time() - cpu_before, _cpu_of(backend) - backend_before


def floors(url: str, path: Path, day: date, folder: Path) -> tuple[Copied, Copied]:
    """The two baselines, same file, same run: (a bare COPY of the CSV into an unindexed typed
    table, a binary COPY of the same rows as the import writes them into a table of the
    readings' shape). The typed rows are made by the server from the bare table (meter id by
    serial, thousandths), in the file's order, and streamed from a file like the CSV."""
    import psycopg

    names = "ean, meter, register, at, value, unit"
    typed = folder / "typed.pgcopy"
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE bench_bare_copy ({BARE})")
        conn.commit()
        wall, cpu, backend = _timed_copy(
            conn,
            f"COPY bench_bare_copy ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)",
            path,
        )
        (rows,) = conn.execute("SELECT count(*) FROM bench_bare_copy").fetchone() or (0,)
        bare = Copied(wall, rows, cpu, backend)
        with conn.cursor() as cur, open(typed, "wb") as out:
            query = (
                "COPY (SELECT m.id, b.register, b.at, (b.value * 1000)::bigint "
                "FROM bench_bare_copy b JOIN registry_meter m ON m.serial = b.meter "
                "ORDER BY b.meter, b.register, b.at) TO STDOUT (FORMAT binary)"
            )
            with cur.copy(query) as cp:
                for block in cp:
                    out.write(block)
        conn.execute("DROP TABLE bench_bare_copy")
        month = datetime(day.year, day.month, 1, tzinfo=BRUSSELS)
        after = (month + timedelta(days=32)).replace(day=1)
        bounds = {"lo": f"'{month.isoformat()}'", "hi": f"'{after.isoformat()}'"}
        conn.execute(SHAPED % bounds)  # type: ignore[arg-type]
        conn.commit()
        wall, cpu, backend = _timed_copy(
            conn,
            "COPY bench_shaped (meter_id, register, at, value_milli) FROM STDIN (FORMAT binary)",
            typed,
        )
        (rows,) = conn.execute("SELECT count(*) FROM bench_shaped").fetchone() or (0,)
        shaped = Copied(wall, rows, cpu, backend)
        conn.execute("DROP TABLE bench_shaped")
        conn.commit()
    typed.unlink()
    return bare, shaped


def _forget_readings(url: str) -> None:
    """Remove what an import wrote (readings, catch-up work), so the next one starts alike."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings_reading, solde_workitem")
        conn.execute("VACUUM ANALYZE")


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


def _head(path: Path, into: Path, fraction: float) -> None:
    """The first `fraction` of the file's rows (whole meters: the file is sorted by meter)."""
    with open(path) as source, open(into, "w") as out:
        lines = source.readlines()
        keep = 1 + round((len(lines) - 1) * fraction / (2 * 96)) * 2 * 96
        out.writelines(lines[:keep])


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
    database = database_name(pg_url)
    with tempfile.TemporaryDirectory(prefix="solde-bench-ingest-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "readings.csv"
        started = time.perf_counter()
        rows = write_csv(csv_path, meters, day)
        generated = time.perf_counter() - started
        size_mb = csv_path.stat().st_size / 2**20
        quarter_path = folder / "quarter.csv"
        _head(csv_path, quarter_path, 0.25)
        print(f"   {rows:,} rows ({size_mb:.0f} MiB) generated in {generated:.0f} s", flush=True)

        pg_db = recreate_database(pg_url)
        pg_env = {**base_env, "SOLDE_DATABASE_URL": pg_db, "SOLDE_DATA_DIR": tmp}
        prepare(pg_env, meters, day)
        quarter = timed_import(pg_env, quarter_path, database)
        _forget_readings(pg_db)
        pg = timed_import(pg_env, csv_path, database)
        pg_rows, pg_rejected = _count_pg(pg_db)
        bare, shaped = floors(pg_db, csv_path, day, folder)
        print(
            f"   PostgreSQL: import {pg.wall:.1f} s, bare COPY {bare.wall:.1f} s, "
            f"COPY into the readings' shape {shaped.wall:.1f} s",
            flush=True,
        )

        sqlite_path = folder / "bench.sqlite3"
        sqlite_env = {
            **base_env,
            "SOLDE_DATABASE_URL": f"sqlite:///{sqlite_path}",
            "SOLDE_DATA_DIR": tmp,
        }
        prepare(sqlite_env, meters, day)
        sq = timed_import(sqlite_env, csv_path)
        sq_rows, sq_rejected = _count_sqlite(sqlite_path)
        print(f"   SQLite: import {sq.wall:.1f} s", flush=True)

    own = _own_seconds(pg.output)
    ratio = pg.wall / bare.wall
    own_ratio = own / bare.wall
    shaped_ratio = shaped.wall / bare.wall
    own_shaped = own / shaped.wall
    pg_line = (
        f"| PostgreSQL (COPY path) | {pg_rows:,} | {pg_rejected:,} | {pg.wall:.1f} | {own:.1f} "
        f"| {rows / pg.wall:,.0f} | {pg.memory:.0f} MiB | {quarter.memory:.0f} MiB |"
    )
    sq_line = (
        f"| SQLite | {sq_rows:,} | {sq_rejected:,} | {sq.wall:.1f} | "
        f"{_own_seconds(sq.output):.1f} | {rows / sq.wall:,.0f} | {sq.memory:.0f} MiB | |"
    )
    bare_line = (
        "| bare `COPY … (FORMAT csv)` of the file into an unindexed typed table "
        f"| {bare.wall:.2f} | 1.00 | {own_ratio:.2f} |"
    )
    shaped_line = (
        "| binary `COPY` of the rows as the import writes them into a table of the readings' "
        "shape (partitioned, identity id cached 32 a session, one unique index) "
        f"| {shaped.wall:.2f} | {shaped_ratio:.2f} | {own_shaped:.2f} |"
    )
    ok_ratio = "met" if own_ratio <= 2 else "NOT met"
    ok_memory = "met" if max(pg.memory, sq.memory) < 500 else "NOT met"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"""## Ingestion (`solde import-readings`)

One day ({day}) of quarter-hourly indexes for {meters:,} electricity meters × 2 offtake
registers: **{rows:,} rows**, a {size_mb:.0f} MiB CSV sorted by meter, imported with
`solde import-readings FILE --batch-size {BATCH:,}` into a fleet of {meters:,} active accounts
(fresh database `{database}` on PostgreSQL; a temporary file on SQLite). *Wall* is the whole
command (process start and Django set-up, about a second, included); *own* is the time the
command reports itself, from opening the file to the last commit. Peak memory is the import
process's maximum resident set (`os.wait4`), for the whole file and for its first quarter.
Load average at the end of the run: {load}.

| database | rows stored | rejected | wall s | own s | rows/s (wall) | peak memory | peak, ¼ file |
|---|---:|---:|---:|---:|---:|---:|---:|
{pg_line}
{sq_line}

Floors, same run, same rows, each timed with its commit:

| PostgreSQL | seconds | × bare COPY | import (own) × this |
|---|---:|---:|---:|
{bare_line}
{shaped_line}
| `solde import-readings`, own time | {own:.2f} | {own_ratio:.2f} | |
| `solde import-readings`, wall time | {pg.wall:.2f} | {ratio:.2f} | |

Import / bare COPY: **{own_ratio:.2f}×** on the command's own time, {ratio:.2f}× on the wall
time (target ≤ 2×, issue 8, judged on the own time: {ok_ratio}). Peak memory target < 500 MB:
{ok_memory}.

CPU seconds (user + system), same run: the import process {pg.cpu:.2f} s (Django set-up
included) and its PostgreSQL backends {pg.backend_cpu:.2f} s; the bare COPY's client
{bare.cpu:.2f} s and backend {bare.backend_cpu:.2f} s; the shaped COPY's client {shaped.cpu:.2f} s
and backend {shaped.backend_cpu:.2f} s. (The server's WAL writer and checkpointer are not counted
in any of them.)

The command's own summary: PostgreSQL `{_summary_line(pg.output)}`; SQLite
`{_summary_line(sq.output)}`.
"""


def _own_seconds(output: str) -> float:
    line = _summary_line(output)
    try:
        return float(line.split(" s,")[0])
    except ValueError:
        return float("nan")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fleet":
        make_fleet(int(sys.argv[2]), date.fromisoformat(sys.argv[3]))
    else:
        print(run(os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")))
