"""Reads on a year of data: the portal's consumption page, the API statement for a year, the
balance API, the console's customer page — for one account with a year of quarter-hourly
history, on a small readings table and again once the table is big.

A fresh database `solde_bench_reads`, migrated. One electricity account (the customer) with a
year of quarter-hourly indexes on 2 registers, topped up weekly, among 200 other accounts with
daily midnight indexes, all activated a year ago and closed day by day by the real close
(week by week with the clock set, so the ledger, DayCharge and DailyIndex are what a year
leaves). Measured (200 requests each, through the Django test client, logged in / with an API
key): then 600 more meters get a year of quarter-hourly indexes by COPY (42 M rows at scale 1),
ANALYZE, and the same requests are measured again. Targets: consumption page and statement p99
< 100 ms on the big table; the balance's p99 on the big table within 1.5× the small table's.

`python -m tests.perf.bench_reads ACCOUNTS HEAVY` runs the measuring part alone.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.perf.fixtures import run_on_fresh_database

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "solde_bench_reads"
ACCOUNTS = 200
HEAVY = 600
REQUESTS = 200


def run(pg_url: str) -> str:
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    accounts = max(10, int(ACCOUNTS * scale))
    heavy = max(5, int(HEAVY * scale))
    r = run_on_fresh_database(
        pg_url, DB_NAME, "tests.perf.bench_reads", str(accounts), str(heavy), SOLDE_SIMULATION="0"
    )
    return section(r, scale)


def section(r: dict, scale: float) -> str:
    small, big = r["small"], r["big"]
    portal_ok = big["consumption"]["p99"] < 100 and big["consumption_90"]["p99"] < 100
    statement_ok = big["statement"]["p99"] < 100
    balance_ratio = big["balance"]["p99"] / small["balance"]["p99"]
    balance_ok = balance_ratio <= 1.5

    def ok(flag: bool) -> str:
        return "met" if flag else "**MISSED**"

    lines = [
        "## Reads on a year of data (portal consumption, statement, balance)",
        "",
        f"One electricity account with a year of quarter-hourly indexes on 2 registers "
        f"({r['customer_rows']:,} rows), topped up weekly, among {r['accounts'] - 1} others with "
        f"daily indexes, all closed day by day for a year by the real close "
        f"({r['close_s']:.0f} s). "
        f"Measured on that table ({r['small_rows']:,} readings), then again after {r['heavy']} "
        f"more meters got a year of quarter-hourly indexes ({r['big_rows']:,} readings, "
        f"{r['big_bytes'] / 1e9:.1f} GB). {REQUESTS} requests each through the Django test "
        "client (logged-in customer; API key with the `read` scope). Baseline: the same "
        "requests on the small table."
        + (
            ""
            if r["daily_indexes_by_close"]
            else " The close did not write DailyIndex yet: the bench filled it from the "
            "midnight readings (the rows the close will keep)."
        ),
        "",
        "| request | small table p50 / p99 ms | big table p50 / p99 ms | big / small p99 |",
        "|---|---|---|---|",
    ]
    names = {
        "consumption": "portal consumption page (30 days + 12 months + indexes)",
        "consumption_90": "portal consumption page, 90 days",
        "statement": "API statement for a year",
        "balance": "API balance",
        "console": "console customer page (timeline included)",
    }
    for key, label in names.items():
        if key not in big:
            continue
        s, b = small[key], big[key]
        lines.append(
            f"| {label} | {s['p50']:.1f} / {s['p99']:.1f} | {b['p50']:.1f} / {b['p99']:.1f} | "
            f"{b['p99'] / s['p99']:.2f} |"
        )
    lines += [
        "",
        f"Targets: consumption page p99 < 100 ms on the big table — {ok(portal_ok)}; statement "
        f"for a year p99 < 100 ms — {ok(statement_ok)} ({r['statement_lines']} lines); balance "
        f"unaffected by the table's size (big / small p99 ≤ 1.5) — {ok(balance_ok)} "
        f"({balance_ratio:.2f}). None of these reads touches the raw readings: the portal "
        "reads DayCharge and DailyIndex, the statement the ledger.",
        "",
        f"Load average (1 min) when the run ended: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores.",
    ]
    if scale != 1:
        lines += ["", f"At scale {scale}: not the target size."]
    return "\n".join(lines)


# --- In the subprocess ----------------------------------------------------------------------


def _pct(values: list[float]) -> dict:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]
    return {"n": len(values), "p50": statistics.median(values), "p99": p99, "max": values[-1]}


def _copy(rows) -> int:
    from django.db import connection

    n = 0
    with connection.cursor() as cur:
        with cur.cursor.copy(
            "COPY readings_reading (meter_id, register, at, value_milli) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def _quarter_hourly(meter_id: int, start: datetime, end: datetime, seed: int):
    """A year of quarter-hourly indexes on both offtake registers (about 4.4 kWh a day)."""
    for r, register in enumerate(("1.8.1", "1.8.2")):
        value, t, q = 1_000_000 + seed * 1000, start, 0
        while t <= end:
            yield (meter_id, register, t, value)
            value += 15 + (q * 31 + seed + r) % 17
            t += timedelta(minutes=15)
            q += 1


def _midnights(meter_id: int, first: date, last: date, seed: int):
    from solde import clock

    for r, register in enumerate(("1.8.1", "1.8.2")):
        value, d = 2_000_000 + seed * 1000, first
        while d <= last:
            yield (meter_id, register, clock.day_start(d), value)
            value += 1000 + (seed * 7 + r * 5 + d.toordinal()) % 1000
            d += timedelta(days=1)


def _timed(client, path: str, n: int, **headers) -> dict:
    for _ in range(10):  # warm the connection and the caches
        assert client.get(path, **headers).status_code == 200
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(path, **headers)
        ms.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return _pct(ms)


def main(accounts: int, heavy: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import override_settings

    from solde import clock
    from solde.api.keys import create_key
    from solde.backoffice import roles
    from solde.identifiers import make_ean
    from solde.prepayment.close import close_day
    from solde.prepayment.services import activate
    from solde.readings import partitions
    from solde.readings.models import DailyIndex
    from solde.registry.models import Customer, Dso, Supplier
    from solde.registry.services import NewSupplyPoint, create_supply_points, upsert_tariff
    from solde.topups.services import credit_topup

    call_command("migrate", verbosity=0)
    # Pages render from the apps' static folders (the hashed manifest is `solde serve`'s).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    logging.getLogger("solde.orders").setLevel(logging.ERROR)  # no head-end here: orders wait
    today = clock.today()
    first = today - timedelta(days=365)
    partitions.ensure(first, today)
    supplier = Supplier.objects.create(code="BENCH-SUPPLIER", name="Bench supplier")
    upsert_tariff("RESA", "electricity", "average", None, first - timedelta(days=30), "0.30")
    resa = Dso.objects.get(code="RESA")

    def points(start: int, count: int):
        return create_supply_points(
            [
                NewSupplyPoint(
                    ean=make_ean(f"5414488{start + i:010d}"),
                    dso=resa,
                    energy="electricity",
                    customer=Customer(first_name="Client", last_name=f"Bench{start + i}"),
                    supplier=supplier,
                    supplier_since=date(2000, 1, 1),
                    meter_serial=f"BR{start + i:08d}",
                    registers=["1.8.1", "1.8.2"],
                    tariff_category="average",
                    protected=False,
                    street="Rue Paradis",
                    number="62",
                    postcode="4000",
                    city="Liège",
                )
                for i in range(count)
            ]
        )

    fleet = points(0, accounts)
    (customer_sp, customer_meter), others = fleet[0], fleet[1:]
    start = clock.day_start(first)
    end = clock.day_start(today)
    customer_rows = _copy(_quarter_hourly(customer_meter.pk, start, end, 1))
    for k, (_sp, meter) in enumerate(others, 2):
        _copy(_midnights(meter.pk, first, today, k))
    with clock.freeze(start + timedelta(minutes=1)), transaction.atomic():
        activate({sp.pk: start for sp, _m in fleet})
    accounts_by_sp = {sp.pk: sp.account for sp, _m in fleet}
    for sp, _m in fleet:
        accounts_by_sp[sp.pk].refresh_from_db()
    with clock.freeze(start + timedelta(hours=1)):
        for sp, _m in others:
            credit_topup(accounts_by_sp[sp.pk], 250_00, channel="retail", external_id=f"o{sp.pk}")
    # A year of closes, a week at a time, the customer topping up 20 € each week (the others
    # 250 € twice a year).
    started = time.perf_counter()
    day = first
    week = 0
    while day < today:
        week += 1
        if week == 26:
            with clock.freeze(clock.local_datetime(day, 9, 0)):
                for sp, _m in others:
                    account = accounts_by_sp[sp.pk]
                    account.refresh_from_db()
                    credit_topup(account, 250_00, channel="retail", external_id=f"h{sp.pk}")
        week_end = min(day + timedelta(days=6), today - timedelta(days=1))
        with clock.freeze(clock.local_datetime(week_end + timedelta(days=1), 5, 0)):
            close_day(week_end, trigger="schedule")
        with clock.freeze(clock.local_datetime(week_end + timedelta(days=1), 9, 0)):
            account = accounts_by_sp[customer_sp.pk]
            account.refresh_from_db()
            credit_topup(account, 20_00, channel="retail", external_id=f"w{week_end}")
        day = week_end + timedelta(days=1)
    close_s = time.perf_counter() - started
    daily_indexes_by_close = DailyIndex.objects.exists()
    if not daily_indexes_by_close:
        # A close that does not keep the daily indexes yet: the same rows from the midnight
        # readings, so the page reads what it will read in production.
        with connection.cursor() as cur:
            cur.execute(
                """INSERT INTO readings_dailyindex (meter_id, register, day, start_milli,
                       end_milli, consumption_milli, interpolated)
                   SELECT s.meter_id, s.register, (s.at AT TIME ZONE 'Europe/Brussels')::date,
                          s.value_milli, e.value_milli, e.value_milli - s.value_milli, false
                   FROM readings_reading s JOIN readings_reading e
                     ON e.meter_id = s.meter_id AND e.register = s.register
                    AND e.at = ((((s.at AT TIME ZONE 'Europe/Brussels')::date + 1)::timestamp)
                                AT TIME ZONE 'Europe/Brussels')
                   WHERE (s.at AT TIME ZONE 'Europe/Brussels')::time = '00:00'
                     AND s.at < %s
                   ON CONFLICT DO NOTHING""",
                [clock.day_start(today - timedelta(days=1))],
            )

    user = get_user_model().objects.create_user(
        username="bench-reads@example.org", email="bench-reads@example.org", password="x"
    )
    customer = customer_sp.customer
    customer.user, customer.email = user, user.email
    customer.save(update_fields=["user", "email"])
    portal = Client()
    portal.force_login(user)
    _key, plaintext = create_key("bench-reads", ["read"])
    api = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    agent = get_user_model().objects.create_user("bench-agent", "", "x", is_staff=True)
    agent.groups.add(Group.objects.get(name=roles.AGENT))
    console = Client()
    console.force_login(agent)
    ean = customer_sp.ean
    statement = f"/api/v1/supply-points/{ean}/statement?from={first}&to={today}"
    lines = len(api.get(statement, **auth).json())
    consumption = f"/espace/ean/{ean}/consommation/"
    assert "Index de votre compteur" in portal.get(consumption).content.decode()

    def measure() -> dict:
        out = {
            "consumption": _timed(portal, consumption, REQUESTS),
            "consumption_90": _timed(portal, consumption + "?days=90", REQUESTS),
            "statement": _timed(api, statement, REQUESTS, **auth),
            "balance": _timed(api, f"/api/v1/supply-points/{ean}/balance", REQUESTS, **auth),
        }
        try:
            out["console"] = _timed(console, f"/console/customers/{customer.pk}/", REQUESTS // 4)
        except AssertionError:
            pass  # the console needs two-factor here: left out of the table
        return out

    def readings_table() -> tuple[int, int]:
        with connection.cursor() as cur:
            cur.execute("ANALYZE readings_reading")
            cur.execute(
                "SELECT sum(c.reltuples)::bigint, sum(pg_total_relation_size(c.oid)) "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'readings_reading'::regclass"
            )
            rows, size = cur.fetchone()
        return int(rows), int(size)

    small_rows, _ = readings_table()
    small = measure()
    for k, (_sp, meter) in enumerate(points(accounts, heavy)):
        _copy(_quarter_hourly(meter.pk, start, end, 1000 + k))
    big_rows, big_bytes = readings_table()
    big = measure()
    print(
        json.dumps(
            {
                "accounts": accounts,
                "heavy": heavy,
                "customer_rows": customer_rows,
                "close_s": close_s,
                "daily_indexes_by_close": daily_indexes_by_close,
                "statement_lines": lines,
                "small_rows": small_rows,
                "big_rows": big_rows,
                "big_bytes": big_bytes,
                "small": small,
                "big": big,
                "ended": datetime.now(UTC).isoformat(),
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
