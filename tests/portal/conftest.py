"""Portal fixtures: an active prepayment account, its customer's login, a fake online top-up."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.db import transaction

from solde import clock

PASSWORD = "Prepaiement-2026!"


@pytest.fixture
def activate():
    """activate(sp) → the account made active now (activation codes are issued by the signal)."""
    from solde.prepayment.services import activate as activate_accounts

    def run(sp):
        with transaction.atomic():
            activate_accounts({sp.pk: clock.now()})
        sp.refresh_from_db()
        sp.account.refresh_from_db()
        return sp

    return run


@pytest.fixture
def active_sp(frozen, make_supply_point, activate):
    return activate(make_supply_point())


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(sp, email: str | None = None):
        customer = sp.customer
        email = email or f"client{customer.pk}@example.org"
        user = get_user_model().objects.create_user(
            username=email, email=email, password=PASSWORD, first_name=customer.first_name
        )
        customer.user, customer.email = user, email
        customer.save(update_fields=["user", "email"])
        return user

    return make


@pytest.fixture
def user(active_sp, make_user):
    return make_user(active_sp)


@pytest.fixture
def logged(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def other_sp(make_supply_point, activate, make_user):
    """Another customer's active supply point, with their own login."""
    sp = activate(make_supply_point(energy="gas", email="autre@example.org"))
    make_user(sp, "autre@example.org")
    return sp


@pytest.fixture
def day_charges():
    """day_charges(account, first_day, days, day_kwh, night_kwh, cents) → DayCharge rows."""
    from solde.prepayment.models import DayCharge

    def make(account, first: date, days: int, day_kwh="4.5", night_kwh="2.5", cents=250):
        rows = [
            DayCharge(
                account=account,
                day=first + timedelta(days=i),
                kwh={"1.8.1": day_kwh, "1.8.2": night_kwh},
                charge_cents=cents,
                recovery_cents=0,
                closed_at=clock.now(),
            )
            for i in range(days)
        ]
        DayCharge.objects.bulk_create(rows)
        account.last_closed_day = first + timedelta(days=days - 1)
        account.save(update_fields=["last_closed_day"])
        return rows

    return make


@dataclass
class FakePayment:
    pk: int
    account_id: int
    amount_cents: int
    method: str
    return_url: str
    remember: bool
    status: str = "open"
    checkout_url: str = ""
    calls: list = field(default_factory=list)


@pytest.fixture
def fake_online(monkeypatch):
    """solde.topups.online's start_payment / refresh_payment, faked (no provider call).

    `outcome` says what the provider reports when the customer comes back."""
    from solde.ledger.services import collections_account
    from solde.prepayment.models import PrepaymentAccount
    from solde.prepayment.services import credit
    from solde.topups import online

    module = types.SimpleNamespace(payments={}, outcome="paid")

    def start_payment(account, amount_cents, method, return_url, remember=False):
        pk = len(module.payments) + 1
        p = FakePayment(pk, account.pk, amount_cents, method, return_url, remember)
        p.checkout_url = f"https://pay.example.test/checkout/{pk}"
        module.payments[pk] = p
        return p

    def refresh_payment(payment_id):
        p = module.payments[int(payment_id)]
        if p.status == "open" and module.outcome == "paid":
            with transaction.atomic():
                credit(
                    PrepaymentAccount.objects.get(pk=p.account_id),
                    p.amount_cents,
                    key=f"online:{p.pk}",
                    kind="topup",
                    counter_account_id=collections_account("online").pk,
                    reference=f"online {p.pk}",
                )
        p.status = module.outcome
        return p

    monkeypatch.setattr(online, "start_payment", start_payment)
    monkeypatch.setattr(online, "refresh_payment", refresh_payment)
    return module
