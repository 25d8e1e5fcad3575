"""The whole journey over HTTP: checkout page → choice → webhook to a live server → credit."""

from __future__ import annotations

import pytest
import requests

from solde.topups import online
from solde.topups.models import Topup
from tests.topups.conftest import balance


@pytest.mark.django_db(transaction=True)
def test_payer_pays_on_the_checkout_page_and_the_webhook_credits(
    active_sp, fake_provider, live_server, settings
):
    settings.SITE_URL = live_server.url
    sp = active_sp()
    p = online.start_payment(sp.account, 2500, "bancontact", "http://portal.test/back")
    r = requests.post(p.checkout_url, data={"status": "paid"}, allow_redirects=False, timeout=20)
    assert r.status_code == 303 and r.headers["Location"] == "http://portal.test/back"
    assert fake_provider.webhook_calls[-1][2] == 200
    assert Topup.objects.get().amount_cents == 2500
    assert balance(sp) == 3500
    assert online.refresh_payment(p.pk).status == "paid"
