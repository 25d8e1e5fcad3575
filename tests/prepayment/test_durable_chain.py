"""Nothing lost, nothing doubled: a crash after any step of the durable chain (close → credit
work → decisions and display orders; late readings → catch-up close → …), then a rerun, ends
with every account-day closed once, with one credit decision and one display order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count

from solde import clock, faults
from solde.ledger.models import Transaction
from solde.models import WorkItem
from solde.orders.models import Order
from solde.prepayment import close as close_module
from solde.prepayment.close import close_day
from solde.prepayment.models import CreditDecision, DayCharge
from solde.prepayment.tasks import catch_up_later
from tests.conftest import drain_work, on_postgres
from tests.prepayment.helpers import activated, add_readings, meter_of, midnight

D = date.fromisoformat
FIRST, LAST = D("2026-11-25"), D("2026-11-27")
DAYS = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


def _accounts(make_supply_point, n: int, days: int = len(DAYS), skip: frozenset = frozenset()):
    """n active accounts from FIRST with a midnight index on each day (1 kWh a day); `skip`:
    the (account number, day number) indexes left out (late data)."""
    out = []
    for i in range(n):
        sp = make_supply_point()
        acc = activated(sp, midnight(f"{FIRST}"))
        m = meter_of(sp)
        for reg, per_day in (("1.8.1", 1000), ("1.8.2", 0)):
            add_readings(
                m,
                reg,
                [
                    (clock.day_start(FIRST + timedelta(days=d)), d * per_day)
                    for d in range(days + 1)
                    if (i, d) not in skip
                ],
            )
        out.append((sp, acc))
    return out


def assert_each_account_day_once(n: int, days: list[date] = DAYS) -> None:
    expected = n * len(days)
    charges = DayCharge.objects.filter(day__in=days)
    assert charges.count() == expected
    assert charges.values("account", "day").distinct().count() == expected
    assert Transaction.objects.filter(kind="charge", day__in=days).count() == expected
    # One display order per account-day (unique key: the record of the account-day decided).
    orders = Order.objects.filter(kind="display_balance", key__startswith="close:")
    assert orders.count() == expected
    assert {o.key.split(":")[1] for o in orders} == {f"{d}" for d in days}
    # One decision per kind per account-day, whatever the crash.
    assert not (
        CreditDecision.objects.filter(day__isnull=False)
        .values("account", "day", "decision")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .exists()
    )
    assert not WorkItem.objects.exclude(status="done").exists()


# Each point and the pass it fires at: the second day (or its second chunk) of the run.
CLOSE_POINTS = [
    ("close.after_chunk_commit", 4),  # day 2, after its first chunk committed
    ("close.after_day_commit", 2),  # day 2 closed, its credit work not done yet
    ("work.before_handler", 2),  # day 2's credit work claimed, nothing decided
    ("credit.after_decide", 2),  # day 2 decided and ordered, not committed
    ("work.after_handler", 2),  # … and the work not yet marked done
    ("work.after_commit", 2),  # day 2's credit work committed, day 3 not started
]


@pytest.mark.django_db
@pytest.mark.parametrize(("point", "nth"), CLOSE_POINTS)
def test_a_crash_after_any_step_of_the_close_then_a_rerun(
    point, nth, make_supply_point, make_tariff, frozen, monkeypatch
):
    make_tariff("0.25")
    _accounts(make_supply_point, 5)
    monkeypatch.setattr(close_module, "CHUNK", 2)  # three chunks a day
    with faults.armed(point, nth), pytest.raises(faults.InjectedFault):
        close_day(LAST)
    assert DayCharge.objects.count() < 15  # the crash stopped it mid-way
    close_day(LAST)  # the rerun (the 05:00 job, or an operator)
    assert_each_account_day_once(5)


@pytest.mark.django_db
@pytest.mark.parametrize(("point", "nth"), CLOSE_POINTS[1:])
def test_after_a_crash_the_worker_alone_completes_the_credit_work(
    point, nth, make_supply_point, make_tariff, frozen, monkeypatch
):
    """No rerun of the close: the worker finds the day's credit work and does it once."""
    make_tariff("0.25")
    _accounts(make_supply_point, 5, days=2)
    monkeypatch.setattr(close_module, "CHUNK", 2)
    with faults.armed(point, nth), pytest.raises(faults.InjectedFault):
        close_day(DAYS[1])
    drain_work()
    assert_each_account_day_once(5, DAYS[:2])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "point",
    [
        "work.before_handler",
        "close.after_chunk_commit",
        "catch_up.after_close",
        "work.after_commit",
    ],
)
def test_a_crash_in_the_catch_up_chain_then_the_worker(
    point, make_supply_point, make_tariff, frozen
):
    make_tariff("0.25")
    # Account 0 has no index after the 26th yet: the platform closes the 25th only for it.
    accounts = _accounts(make_supply_point, 3, skip=frozenset({(0, 2), (0, 3)}))
    close_day(LAST)
    assert DayCharge.objects.count() == 3 * 3 - 2
    sp, _ = accounts[0]
    late = [clock.day_start(LAST), clock.day_start(LAST + timedelta(days=1))]
    add_readings(meter_of(sp), "1.8.1", [(late[0], 2000), (late[1], 3000)])
    add_readings(meter_of(sp), "1.8.2", [(late[0], 0), (late[1], 0)])
    catch_up_later([sp.pk])  # in the ingestion's transaction
    with faults.armed(point), pytest.raises(faults.InjectedFault):
        drain_work()  # the after-commit try, or the worker
    drain_work()  # the worker, after the restart
    assert_each_account_day_once(3)


@pytest.mark.django_db
def test_a_failing_credit_run_does_not_stop_the_close_and_is_retried(
    make_supply_point, make_tariff, frozen, monkeypatch
):
    from io import StringIO

    from django.core.management import call_command

    from solde import work
    from solde.prepayment import credit_control

    make_tariff("0.25")
    _accounts(make_supply_point, 2)

    def broken(payloads):
        raise RuntimeError("credit control is broken today")

    monkeypatch.setitem(work.HANDLERS, close_module.CREDIT_WORK, broken)
    out, err = StringIO(), StringIO()
    call_command("close-day", "--date", f"{LAST}", stdout=out, stderr=err)
    assert "6 account-day(s) closed" in out.getvalue()  # the money is closed regardless
    assert "3 credit-control work item(s) failed" in err.getvalue()
    failing = WorkItem.objects.filter(kind=close_module.CREDIT_WORK, attempts=1)
    assert failing.count() == 3
    assert "credit control is broken today" in failing.first().last_error
    assert not CreditDecision.objects.exists()
    monkeypatch.setitem(work.HANDLERS, close_module.CREDIT_WORK, credit_control.decide_closed_day)
    clock.advance(timedelta(minutes=1))
    drain_work()
    assert_each_account_day_once(2)


# --- A real kill -9 of `solde close-day` on PostgreSQL ------------------------------------


def _db_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _close_day_process(faults_spec: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SOLDE_DATABASE_URL": _db_url(),
        "SOLDE_SIMULATION": "1",
        "SOLDE_FAULTS": faults_spec,
        "SOLDE_CLOSE_CHUNK": "100",
    }
    return subprocess.run(
        [sys.executable, "-m", "solde", "close-day", "--date", f"{LAST}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["close.after_day_commit@2", "credit.after_decide@2"])
def test_kill_9_of_close_day_mid_run_then_a_rerun(point, make_supply_point, make_tariff):
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (the PostgreSQL pass of make test runs it)")
    n = 300
    with clock.freeze(datetime(2026, 11, 28, 12, tzinfo=clock.BRUSSELS)):
        make_tariff("0.25")
        _accounts(make_supply_point, n)
        clock.set_simulated(datetime(2026, 11, 28, 12, tzinfo=clock.BRUSSELS), speed=0)
    killed = _close_day_process(f"{point}:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    closed = DayCharge.objects.count()
    assert n <= closed < 3 * n  # killed mid-way: some days committed, not all
    rerun = _close_day_process()
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_each_account_day_once(n)
