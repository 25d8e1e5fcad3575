"""The short chaos run for CI (PostgreSQL pass): the platform's processes killed at random under
partner, online and bank top-ups and clock moves, PostgreSQL cut once, Mosquitto restarted once;
then every invariant of tests/chaos/run.py holds, days were closed during the chaos, and what the
meters journaled as delivered matches the database. The checks themselves must catch a planted
fault: a top-up answered but not stored, a balance that drifted from its postings, a reading a
meter delivered that is missing or altered, an order recorded executed that no meter executed."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from tests.chaos import run as chaos
from tests.conftest import on_postgres, require

MOSQUITTO = "/usr/sbin/mosquitto"


@pytest.mark.slow
@pytest.mark.postgres
def test_a_short_chaos_run_loses_and_doubles_nothing():
    if not on_postgres():
        pytest.skip("the chaos suite runs on PostgreSQL: the PostgreSQL pass runs this")
    require("Mosquitto (the binary, for a private broker)", shutil.which(MOSQUITTO) is not None)
    from django.db import connection

    s = connection.settings_dict
    server = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    run = chaos.Run(0.75, server, f"{s['NAME']}_chaos"[:60], seed=9, meters=40)
    try:
        results = run.run()
    finally:
        for name in list(run.procs):
            run.quit(name)
    assert results["problems"] == [], results
    assert results["ledger_verify"][0] == 0, results["ledger_verify"]
    assert sum(run.kills.values()) >= 3, run.kills
    assert results["partner_topups"]["answered"] > 0, results
    assert results["driven"].get("bank_import", 0) > 0, results
    assert results["account_days"]["closed"] > 0 and results["readings"] > 0, results
    assert results["account_days"]["closed_under_chaos"] > 0, results["account_days"]
    assert results["journal"]["readings_delivered"] > 0, results["journal"]
    assert results["meter_orders"]["executed_by_meters"] > 0, results["meter_orders"]

    # The checks catch what they are for: plant a top-up answered but never stored, and a
    # customer balance that no longer equals its postings.
    run.answered["chaos-planted"] = 10**9
    with psycopg.connect(run.url, autocommit=True) as c:
        c.execute(
            "update ledger_ledgeraccount set balance_cents = balance_cents + 1 where id = "
            "(select min(id) from ledger_ledgeraccount where kind = 'customer_balance')"
        )
    # … and a reading a meter delivered deleted, another altered, an order no meter executed
    # recorded as executed.
    records, _ = chaos.read_journal(run.journal)
    delivered = [
        (r["meter"], row["register"], row["at"])
        for r in records
        if r["leaf"] == "readings"
        for row in r["payload"]["readings"]
    ]
    executed = {
        r["payload"]["order_id"]
        for r in records
        if r["leaf"] == "order-results" and r["payload"].get("status") == "executed"
    }
    where = "m.id = r.meter_id and m.serial = %s and r.register = %s and r.at = %s"
    with psycopg.connect(run.url, autocommit=True) as c:
        c.execute(f"delete from readings_reading r using registry_meter m where {where}",
                  delivered[0])  # fmt: skip
        c.execute(f"update readings_reading r set value_milli = value_milli + 1 from"
                  f" registry_meter m where {where}", delivered[-1])  # fmt: skip
        never = [
            pk
            for (pk,) in c.execute("select id from orders_order where status <> 'executed'")
            if pk not in executed
        ]
        c.execute("update orders_order set status = 'executed' where id = %s", (never[0],))
    planted = run.check()["problems"]
    assert any("answered but not stored" in p for p in planted), planted
    assert any("Σ balances" in p for p in planted), planted
    assert any("1 missing, 1 altered" in p for p in planted), planted
    assert any(f"never executed by a meter: [{never[0]}]" in p for p in planted), planted
    with psycopg.connect(f"{server}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{run.db}" WITH (FORCE)')
