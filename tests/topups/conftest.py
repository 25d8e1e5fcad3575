from __future__ import annotations

import json as jsonlib
from datetime import timedelta

import pytest

from solde import clock


@pytest.fixture
def active_sp(make_supply_point, frozen):
    """make_active(**kw) → an active supply point (balance = the 10 € advance)."""
    from django.db import transaction

    from solde.prepayment.services import activate

    def make(**kw):
        sp = make_supply_point(**kw)
        with transaction.atomic():
            activate({sp.pk: clock.now() - timedelta(days=1)})
        sp.account.refresh_from_db()
        return sp

    return make


def balance(sp) -> int:
    from solde.ledger.models import LedgerAccount

    return LedgerAccount.objects.get(pk=sp.account.balance_account_id).balance_cents


@pytest.fixture
def partner_api(client, db):
    """partner_api(name, channel="") → call(method, path, json=) with that partner's key."""
    from solde.api.keys import create_key
    from solde.topups.models import Partner

    def make(name: str = "Shop network", channel: str = "retail"):
        key, plaintext = create_key(name, ["topups"])
        partner = Partner.objects.create(name=name, channel=channel, api_key=key)

        def call(method: str, path: str, json=None):
            kwargs = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
            if json is not None:
                kwargs["data"] = jsonlib.dumps(json)
                kwargs["content_type"] = "application/json"
            return getattr(client, method.lower())(path, **kwargs)

        call.partner = partner
        return call

    return make


@pytest.fixture
def fake_provider(settings):
    """The fake payment provider on a free loopback port, used through the Mollie client."""
    from solde.topups import fake_provider as fp

    server = fp.start(0)
    settings.PAYMENT_PROVIDER = "fake"
    settings.PAYMENT_PROVIDER_URL = server.url
    yield server
    server.shutdown()
    server.server_close()
