import pytest

from solde.ledger.models import AccountKind, Transaction
from solde.ledger.services import (
    Posting,
    UnbalancedTransaction,
    account,
    balance_of,
    post,
    post_many,
    verify,
)

pytestmark = pytest.mark.django_db


def test_same_key_twice_is_one_transaction():
    a = account("collections:retail", AccountKind.COLLECTIONS)
    b = account("energy_sales:test", AccountKind.ENERGY_SALES)
    p = Posting(key="k1", kind="topup", entries=[(a.pk, -500), (b.pk, 500)])
    _, first = post(p)
    _, second = post(p)
    assert (first, second) == (True, False)
    assert Transaction.objects.count() == 1
    assert balance_of(a) == -500  # collections: summed on read, not stored
    b.refresh_from_db()
    assert b.balance_cents == 500 == balance_of(b)
    assert verify().ok


def test_unbalanced_transaction_is_refused_and_writes_nothing():
    a = account("x", AccountKind.ADJUSTMENTS)
    with pytest.raises(UnbalancedTransaction):
        post_many([Posting(key="bad", kind="adjustment", entries=[(a.pk, 1)])])
    assert Transaction.objects.count() == 0
