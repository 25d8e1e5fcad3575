"""`post_transfers`: the set-based two-entry postings of the daily close."""

from datetime import UTC, date, datetime

import pytest
from django.db import transaction

from solde.ledger.models import AccountKind, Entry, Transaction
from solde.ledger.services import account, apply_balance_deltas, post_transfers, verify

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 28, 4, tzinfo=UTC)
DAY = date(2026, 11, 27)


def test_transfers_post_once_and_the_held_accounts_are_left_to_the_caller():
    customers = [account(f"balance:{i}", AccountKind.CUSTOMER_BALANCE) for i in range(3)]
    sales = account("energy_sales:RESA:electricity", AccountKind.ENERGY_SALES)
    transfers = [
        (
            f"charge:{c.pk}:{DAY}",
            "charge",
            None,
            f"{DAY}",
            '{"kwh": {"1.8.1": "1.000"}}',
            c.pk,
            sales.pk,
            100 + i,
        )
        for i, c in enumerate(customers)
    ]
    with transaction.atomic():
        stored, held = post_transfers(transfers, at=AT, day=DAY, hold=[sales.pk])
        assert stored == {c.pk: -(100 + i) for i, c in enumerate(customers)}
        assert held == {sales.pk: 303}
        assert not verify().ok  # the sales balance is owed until the caller applies it
        apply_balance_deltas(held, AT)
    assert verify().ok
    tx = Transaction.objects.get(idempotency_key=f"charge:{customers[1].pk}:{DAY}")
    assert tx.kind == "charge" and tx.day == DAY and tx.details == {"kwh": {"1.8.1": "1.000"}}
    assert sorted(tx.entries.values_list("amount_cents", flat=True)) == [-101, 101]
    # The same keys again (a rerun), with one new: only the new one is posted.
    extra = account("balance:new", AccountKind.CUSTOMER_BALANCE)
    again = [
        *transfers,
        (f"charge:{extra.pk}:{DAY}", "charge", None, "", "{}", extra.pk, sales.pk, 7),
    ]
    with transaction.atomic():
        stored, held = post_transfers(again, at=AT, day=DAY)
    assert stored == {extra.pk: -7, sales.pk: 310}
    assert held == {}
    assert Transaction.objects.count() == 4 and Entry.objects.count() == 8
    assert verify().ok


def test_the_same_key_twice_in_one_batch_is_refused():
    a = account("balance:a", AccountKind.CUSTOMER_BALANCE)
    b = account("energy_sales:x", AccountKind.ENERGY_SALES)
    twice = [("k", "charge", None, "", "{}", a.pk, b.pk, 1)] * 2
    with pytest.raises(ValueError, match="same idempotency key"), transaction.atomic():
        post_transfers(twice, at=AT, day=DAY)
    assert Transaction.objects.count() == 0
