"""Accounts ready for credit control: active, with a chosen balance and supply state."""

from __future__ import annotations

from datetime import datetime
from itertools import count

import pytest

from solde import clock
from solde.ledger.models import AccountKind
from solde.ledger.services import account as ledger_account
from solde.prepayment.models import PrepaymentAccount

_keys = count(1)


def move_balance(acc: PrepaymentAccount, cents: int, kind: str = "charge") -> int:
    """Move money on the balance. `charge` stands in for the close's charges (credit control
    hears about those through its "credit.close" work, not balance_changed)."""
    from solde.prepayment.services import credit

    counter = ledger_account("adjustments:test", AccountKind.ADJUSTMENTS)
    balance, _ = credit(
        acc, cents, key=f"test:{next(_keys)}", kind=kind, counter_account_id=counter.pk
    )
    return balance


def top_up(acc: PrepaymentAccount, cents: int) -> int:
    """A top-up as every channel credits one (`credit_topup`): credit control hears of it
    with the facts read under the account's lock, and is skipped when the rules leave it
    nothing to decide (`credit_control.nothing_to_decide`)."""
    from solde.topups.services import credit_topup

    topup, created = credit_topup(acc, cents, channel="manual", external_id=f"{next(_keys)}")
    assert created
    return topup.balance_after_cents


@pytest.fixture
def make_account(make_supply_point):
    """make_account(balance_cents, energy=, protected=, supply=, dso=) → an active account."""
    from solde.prepayment.services import activate

    def make(
        balance: int = 0,
        *,
        energy: str = "electricity",
        protected: bool = False,
        supply: str = "connected",
        dso: str = "RESA",
        activated_at: datetime | None = None,
    ) -> PrepaymentAccount:
        sp = make_supply_point(energy=energy, protected=protected, dso=dso)
        activate({sp.pk: activated_at or clock.now()})
        acc = PrepaymentAccount.objects.get(supply_point=sp)
        advance = sp.dso.advance_cents(energy)
        if balance != advance:
            move_balance(acc, balance - advance)
        if supply != "connected":
            PrepaymentAccount.objects.filter(pk=acc.pk).update(supply=supply)
        acc.refresh_from_db()
        return acc

    return make
