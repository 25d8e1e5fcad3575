"""Ledger invariants under any sequence of operations (hypothesis)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde.ledger.models import AccountKind, Entry, LedgerAccount, Transaction
from solde.ledger.services import Posting, UnbalancedTransaction, account, post_many, verify

pytestmark = pytest.mark.django_db

ACCOUNTS = ["balance:a", "balance:b", "advance:a", "sales", "collections", "adjustments"]

operation = st.tuples(
    st.sampled_from(["credit", "charge", "adjustment", "recovery"]),
    st.sampled_from(["a", "b"]),
    st.integers(min_value=-50_000, max_value=50_000),
    st.integers(min_value=0, max_value=30),  # idempotency key: repeats are likely
    # How far the counter-entry misses: mostly 0 (balanced), sometimes not.
    st.one_of(st.just(0), st.just(0), st.integers(min_value=-3, max_value=3)),
)
_example = iter(range(10**9))


def _posting(op, ids, prefix: str) -> Posting:
    kind, who, cents, n, skew = op
    counter = {
        "credit": "collections",
        "charge": "sales",
        "adjustment": "adjustments",
        "recovery": f"advance:{who}" if who == "a" else "adjustments",
    }[kind]
    return Posting(
        key=f"{prefix}{kind}:{who}:{n}",
        kind={"credit": "topup", "recovery": "advance_recovery"}.get(kind, kind),
        entries=[(ids[f"balance:{who}"], cents), (ids[counter], -cents + skew)],
        day=date(2026, 11, 1),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(operation, max_size=8), max_size=6))
def test_any_sequence_keeps_transactions_balanced_and_balances_equal_entries(batches):
    with transaction.atomic():  # each example in its own savepoint: a failure stays visible
        _check_sequence(batches)


def _check_sequence(batches):
    # The ledger cannot be emptied (append-only): each example has its own accounts and keys.
    prefix = f"ex{next(_example)}:"
    ids = {code: account(prefix + code, AccountKind.ADJUSTMENTS).pk for code in ACCOUNTS}
    seen: dict[str, int] = {}
    expected = dict.fromkeys(ids.values(), 0)
    for batch in batches:
        postings = [_posting(op, ids, prefix) for op in batch]
        before = Transaction.objects.filter(idempotency_key__startswith=prefix).count()
        if any(sum(c for _, c in p.entries) for p in postings):
            # One unbalanced posting refuses the whole batch, and nothing is written.
            with pytest.raises(UnbalancedTransaction):
                post_many(postings)
            assert Transaction.objects.filter(idempotency_key__startswith=prefix).count() == before
            continue
        post_many(postings)
        for p in postings:  # the first posting of a key wins; later ones are no-ops
            if p.key not in seen:
                seen[p.key] = 1
                for acc_id, cents in p.entries:
                    expected[acc_id] += cents
    stored = dict(
        LedgerAccount.objects.filter(pk__in=ids.values()).values_list("pk", "balance_cents")
    )
    assert stored == expected
    assert sum(stored.values()) == 0
    assert Transaction.objects.filter(idempotency_key__startswith=prefix).count() == len(seen)
    assert verify().ok


def test_verify_command_lists_offenders_and_exits_non_zero(capsys):
    a = account("balance:x", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:x", AccountKind.ENERGY_SALES)
    post_many([Posting(key="ok-1", kind="charge", entries=[(a.pk, -100), (b.pk, 100)])])
    call_command("ledger", "verify")
    assert "Ledger OK" in capsys.readouterr().out
    # Tamper: a stored balance that no longer matches, and a one-sided entry.
    LedgerAccount.objects.filter(pk=a.pk).update(balance_cents=5)
    tx = Transaction.objects.create(idempotency_key="bad-1", kind="adjustment", at=tx_at())
    Entry.objects.create(transaction=tx, account=b, amount_cents=7)
    with pytest.raises(CommandError, match="NOT consistent"):
        call_command("ledger", "verify")
    err = capsys.readouterr().err
    assert "bad-1" in err and "balance:x" in err and "sales:x" in err


def tx_at():
    from solde import clock

    return clock.now()


def test_a_large_batch_posts_every_transaction_once():
    """Above 500 postings PostgreSQL takes the COPY path: same result, same idempotency."""
    a = account("balance:big", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:big", AccountKind.ENERGY_SALES)
    postings = [
        Posting(
            key=f"big:{i}",
            kind="charge",
            entries=[(a.pk, -i), (b.pk, i)],
            details={"kwh": {"1.8.1": f"{i}.000"}},
            day=date(2026, 11, 27),
        )
        for i in range(1, 801)
    ]
    assert post_many(postings[:300]) == 300
    assert post_many(postings) == 500  # the first 300 are known
    total = sum(range(1, 801))
    a.refresh_from_db()
    assert a.balance_cents == -total
    tx = Transaction.objects.get(idempotency_key="big:700")
    assert tx.details == {"kwh": {"1.8.1": "700.000"}} and tx.day == date(2026, 11, 27)
    assert tx.entries.count() == 2
    assert verify().ok


def test_keys_with_quotes_commas_and_backslashes_are_recognised():
    a = account("balance:q", AccountKind.CUSTOMER_BALANCE)
    b = account("sales:q", AccountKind.ENERGY_SALES)
    keys = ['a"b', "c\\d", "e,f", "{g}", "h i", "NULL"]
    postings = [Posting(key=k, kind="charge", entries=[(a.pk, -1), (b.pk, 1)]) for k in keys]
    assert post_many(postings) == len(keys)
    assert post_many(postings) == 0
    assert set(Transaction.objects.values_list("idempotency_key", flat=True)) == set(keys)
