"""Fixtures shared by tests/orders and tests/headend."""

from __future__ import annotations

import shutil

import pytest

from solde import clock
from solde.headend import adapters
from tests.conftest import require
from tests.headend.support import (
    BROKER,
    HeadEnd,
    PrivateBroker,
    mosquitto_reachable,
    new_prefix,
)


@pytest.fixture
def monday(at):
    """The clock pinned on Monday 2026-11-30 10:00 local, inside an allowed window."""
    with clock.freeze(at("2026-11-30 10:00")):
        yield


def _configure(settings, kind: str) -> str:
    prefix = new_prefix()
    settings.HEADEND_TOPIC_PREFIX = prefix
    settings.HEADEND_URL = BROKER if kind == "mqtt" else "inprocess"
    adapters.reset()
    return prefix


@pytest.fixture(params=["inprocess", "mqtt"])
def headend(request, settings, db):
    """A listener and (after start_fleet) a simulated fleet, in-process and over Mosquitto."""
    if request.param == "mqtt":
        require("Mosquitto", mosquitto_reachable())
    prefix = _configure(settings, request.param)
    he = HeadEnd(request.param, prefix)
    yield he
    he.close()
    adapters.reset()


@pytest.fixture
def inprocess(settings, db):
    prefix = _configure(settings, "inprocess")
    he = HeadEnd("inprocess", prefix)
    yield he
    he.close()
    adapters.reset()


@pytest.fixture
def mqtt(settings, db):
    require("Mosquitto", mosquitto_reachable())
    prefix = _configure(settings, "mqtt")
    he = HeadEnd("mqtt", prefix)
    yield he
    he.close()
    adapters.reset()


@pytest.fixture
def account_with(make_supply_point):
    """account_with(balance_cents, energy=, protected=) → an active account at that balance.

    The balance is posted straight to the ledger, without the balance_changed signal, so credit
    control does not decide anything here: each test issues the orders it is about."""
    from solde.ledger.models import AccountKind
    from solde.ledger.services import Posting, account, post_many
    from solde.prepayment.services import refresh_credit_state

    counter = iter(range(10**9))

    def make(balance_cents: int, **kwargs):
        sp = make_supply_point(**kwargs)
        acc = sp.account
        acc.state = "active"
        acc.save(update_fields=["state"])
        adj = account("adjustments:test", AccountKind.ADJUSTMENTS)
        if balance_cents:
            post_many(
                [
                    Posting(
                        key=f"test-balance-{next(counter)}-{sp.pk}",
                        kind="charge",
                        entries=[(acc.balance_account_id, balance_cents), (adj.pk, -balance_cents)],
                        supply_point_id=sp.pk,
                    )
                ]
            )
            refresh_credit_state([acc.pk])
        acc.refresh_from_db()
        return acc

    return make


@pytest.fixture
def private_broker(tmp_path, settings):
    require("the mosquitto program", shutil.which("mosquitto") is not None)
    settings.HEADEND_TOPIC_PREFIX = new_prefix()
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()
