"""Parallel top-ups and a daily close on the same account lose nothing (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from solde.ledger.models import AccountKind
from solde.ledger.services import account, verify
from solde.prepayment.close import close_day
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import credit
from tests.conftest import on_postgres
from tests.prepayment.helpers import activated, add_readings, balance, meter_of, midnight


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_credits_and_a_close_lose_nothing(make_supply_point, make_tariff, frozen):
    if not on_postgres():
        pytest.skip("row-lock race: runs on the PostgreSQL pass")
    make_tariff("0.25")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-20"))
    m = meter_of(sp)
    days = [f"2026-11-{d}" for d in range(20, 29)]
    add_readings(m, "1.8.1", [(midnight(d), i * 2000) for i, d in enumerate(days)])
    add_readings(m, "1.8.2", [(midnight(d), 0) for d in days])
    counter = account("collections:test", AccountKind.COLLECTIONS).pk
    start = threading.Barrier(9)
    errors: list[BaseException] = []

    def top_ups(n: int) -> None:
        try:
            start.wait()
            for i in range(5):
                with transaction.atomic():
                    credit(
                        PrepaymentAccount.objects.get(pk=acc.pk),
                        100,
                        key=f"race:{n}:{i}",
                        kind="topup",
                        counter_account_id=counter,
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def closing() -> None:
        try:
            start.wait()
            close_day(date(2026, 11, 27))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=top_ups, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=closing))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    # 10 € advance + 40 top-ups of 1 € − 8 days × 0.50 € − 7 recoveries of 1 €
    assert DayCharge.objects.filter(account=acc).count() == 8
    assert balance(sp) == 1000 + 4000 - 400 - 700
    assert verify().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_chunks_closed_by_parallel_workers_add_up(
    make_supply_point, make_tariff, frozen, monkeypatch
):
    if not on_postgres():
        pytest.skip("parallel close workers: PostgreSQL only")
    from solde.prepayment import close as close_module

    monkeypatch.setattr(close_module, "CHUNK", 2)
    monkeypatch.setenv("SOLDE_CLOSE_WORKERS", "3")
    make_tariff("0.25")
    make_tariff("0.30", dso="ORES")
    sps = [make_supply_point(dso="RESA" if i % 2 else "ORES") for i in range(9)]
    for sp in sps:
        activated(sp, midnight("2026-11-25"))
        days = ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"]
        add_readings(meter_of(sp), "1.8.1", [(midnight(d), i * 4000) for i, d in enumerate(days)])
        add_readings(meter_of(sp), "1.8.2", [(midnight(d), 0) for d in days])
    result = close_day(date(2026, 11, 27))
    assert result.closed == 27
    for sp in sps:
        price = 100 if sp.dso_id == "RESA" else 120  # 4 kWh a day
        assert balance(sp) == 1000 - 3 * price - 2 * 100
    assert DayCharge.objects.count() == 27
    assert verify().ok
