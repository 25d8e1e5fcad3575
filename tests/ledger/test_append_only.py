"""The ledger is append-only in the database itself: UPDATE and DELETE of transactions and
entries are refused by triggers (pgtrigger on PostgreSQL, plain triggers on SQLite), whatever
the path — the ORM or raw SQL. Stored balances stay writable (the ledger keeps them)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from solde import clock
from solde.ledger import triggers
from solde.ledger.models import AccountKind, Entry, LedgerAccount, Transaction
from solde.ledger.services import Posting, account, post_many, verify
from tests.conftest import on_postgres

REFUSED = "append-only|Cannot update or delete"


@pytest.fixture
def posted(db):
    a = account("balance:t", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:t", AccountKind.ENERGY_SALES)
    post_many([Posting(key="t-1", kind="charge", entries=[(a.pk, -250), (b.pk, 250)])])
    tx = Transaction.objects.get(idempotency_key="t-1")
    return tx, tx.entries.get(account=a)


def _refused(statement) -> None:
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        statement()


def test_update_of_a_transaction_is_refused(posted):
    tx, _ = posted
    _refused(lambda: Transaction.objects.filter(pk=tx.pk).update(reference="changed"))
    tx.reference = "changed"
    _refused(tx.save)
    assert Transaction.objects.get(pk=tx.pk).reference == ""


def test_delete_of_a_transaction_is_refused(posted):
    tx, _ = posted
    with connection.cursor() as cur:
        _refused(lambda: cur.execute("DELETE FROM ledger_transaction WHERE id = %s", [tx.pk]))
    assert Transaction.objects.filter(pk=tx.pk).exists()


def test_update_of_an_entry_is_refused(posted):
    _, entry = posted
    _refused(lambda: Entry.objects.filter(pk=entry.pk).update(amount_cents=-1))
    with connection.cursor() as cur:
        _refused(
            lambda: cur.execute(
                "UPDATE ledger_entry SET amount_cents = 0 WHERE id = %s", [entry.pk]
            )
        )
    assert Entry.objects.get(pk=entry.pk).amount_cents == -250


def test_delete_of_an_entry_is_refused(posted):
    _, entry = posted
    _refused(lambda: Entry.objects.filter(pk=entry.pk).delete())
    _refused(lambda: Entry.objects.all().delete())
    assert Entry.objects.count() == 2


def test_appending_and_the_stored_balances_still_work(posted):
    tx, entry = posted
    post_many(
        [
            Posting(
                key="t-2",
                kind="charge",
                entries=[
                    (entry.account_id, -50),
                    (tx.entries.exclude(pk=entry.pk).get().account_id, 50),
                ],
            )
        ]
    )
    assert LedgerAccount.objects.get(code="balance:t").balance_cents == -300
    assert verify().ok


@pytest.mark.django_db(transaction=True)
def test_the_test_flush_empties_the_ledger_despite_the_guard():
    """Transactional tests end with a flush (TRUNCATE on PostgreSQL, DELETE on SQLite under
    triggers.suspended): after it, the next test starts from an empty ledger."""
    from django.core.management import call_command

    a = account("balance:f", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:f", AccountKind.ENERGY_SALES)
    post_many([Posting(key="f-1", kind="charge", entries=[(a.pk, -1), (b.pk, 1)])])
    call_command("flush", interactive=False, verbosity=0)
    assert not Transaction.objects.exists() and not Entry.objects.exists()
    # …and the guard is back at once.
    from solde.registry.reference import ensure_reference_data

    ensure_reference_data()
    a = account("balance:f", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:f", AccountKind.ENERGY_SALES)
    post_many([Posting(key="f-2", kind="charge", entries=[(a.pk, -1), (b.pk, 1)])])
    _refused(lambda: Entry.objects.all().delete())


def test_verify_catches_a_corruption_planted_around_the_orm(posted):
    tx, entry = posted
    assert verify().ok
    with connection.cursor() as cur:
        # A one-sided entry slipped in with raw SQL (INSERT is allowed: append-only)…
        cur.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, amount_cents) "
            "VALUES (%s, %s, %s)",
            [tx.pk, entry.account_id, -1],
        )
    report = verify()
    assert report.unbalanced == ["t-1"]
    assert report.wrong_balances == [("balance:t", -250, -251)]
    # …and an amount rewritten behind the guard's back (triggers lifted by a superuser).
    with triggers.suspended(), connection.cursor() as cur:
        cur.execute("UPDATE ledger_entry SET amount_cents = 400 WHERE id = %s", [entry.pk])
    report = verify()
    assert report.unbalanced == ["t-1"]
    assert ("balance:t", -250, 399) in report.wrong_balances
    _refused(lambda: Entry.objects.filter(pk=entry.pk).update(amount_cents=1))  # guard back


@pytest.mark.django_db(transaction=True)
def test_verify_sees_one_snapshot_while_top_ups_commit(make_supply_point):
    """Top-ups commit in threads while verify runs again and again: never a false alarm
    (under READ COMMITTED its entry sums and its stored balances came from different
    moments)."""
    if not on_postgres():
        pytest.skip("PostgreSQL pass only (the PostgreSQL pass of make test runs it)")
    from solde.prepayment.services import activate
    from solde.topups.services import credit_topup

    with clock.freeze(clock.now()):
        sps = [make_supply_point() for _ in range(4)]
        with transaction.atomic():
            activate({sp.pk: clock.now() - timedelta(days=1) for sp in sps})
        accounts = [sp.account for sp in sps]
        for acc in accounts:
            acc.refresh_from_db()
        stop = threading.Event()
        errors: list[BaseException] = []
        done = [0]

        def top_up(n: int) -> None:
            try:
                i = 0
                while not stop.is_set() and i < 400:
                    credit_topup(
                        accounts[(n + i) % len(accounts)],
                        500 + i,
                        channel="retail",
                        external_id=f"live-{n}-{i}",
                    )
                    i += 1
                    done[0] += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        workers = [threading.Thread(target=top_up, args=(n,)) for n in range(3)]
        for w in workers:
            w.start()
        reports = []
        try:
            # At least 40 verifies, and on until 20 top-ups committed beside them (however
            # slow the machine), so the check runs against a ledger that is really moving.
            while any(w.is_alive() for w in workers) and (len(reports) < 40 or done[0] < 20):
                reports.append(verify())
        finally:
            stop.set()
            for w in workers:
                w.join(60)
        assert not errors
        assert len(reports) >= 5 and done[0] >= 20
        assert [r for r in reports if not r.ok] == []
        assert verify().ok
