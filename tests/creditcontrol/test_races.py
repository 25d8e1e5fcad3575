"""PostgreSQL races: a top-up and an interruption run on the same account at the same time.

No interruption order may leave for a balance above −limit (RULES.md §7): the run locks the
accounts and reads their balances again before writing orders.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from solde import clock
from solde.orders.models import Order
from solde.prepayment import credit_control
from solde.prepayment.models import PrepaymentAccount

from ..conftest import on_postgres
from .conftest import top_up

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if not on_postgres():
        pytest.skip("row locks are exercised on PostgreSQL (SQLite has one writer at a time)")


def in_thread(target, *args):
    errors: list[BaseException] = []

    def run():
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_top_up_committing_during_the_run_prevents_the_interruption(make_account, at):
    with clock.freeze(at("2026-12-07 10:00")):
        with transaction.atomic():
            acc = make_account(-1300)
        paid = threading.Event()

        def pay_slowly():
            with transaction.atomic():
                top_up(PrepaymentAccount.objects.get(pk=acc.pk), 2000)
                paid.set()
                time.sleep(0.5)  # the run reads the old balance meanwhile

        thread, errors = in_thread(pay_slowly)
        assert paid.wait(5)
        result = credit_control.evaluate([acc.pk], "window")
        thread.join(5)
    assert not errors
    assert result.interrupted == []
    assert not Order.objects.filter(kind="disconnect").exists()


def test_a_top_up_during_the_run_waits_and_then_reconnects(make_account, at):
    with clock.freeze(at("2026-12-07 10:00")):
        with transaction.atomic():
            acc = make_account(-1300)
        started = threading.Event()

        def pay():
            started.set()
            with transaction.atomic():
                top_up(PrepaymentAccount.objects.get(pk=acc.pk), 2000)

        with transaction.atomic():
            credit_control.evaluate([acc.pk], "window")
            thread, errors = in_thread(pay)
            assert started.wait(5)
            time.sleep(0.3)  # the top-up waits for the account row this run locked
            assert not Order.objects.filter(kind="reconnect").exists()
        thread.join(5)
    assert not errors
    disconnect = Order.objects.get(kind="disconnect")
    reconnect = Order.objects.get(kind="reconnect")
    assert disconnect.status == "superseded" and disconnect.superseded_by_id == reconnect.pk
