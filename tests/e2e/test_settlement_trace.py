"""Issue 3's promise, end to end: every euro is traceable from the channel to the supplier's
statement. A shop's top-up through the partner API and a payment on the (fake) provider's
checkout page, confirmed by its webhook to the running server, both land on the customer's
balance and then, with their channel references, on the supplier's statement and its CSV."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from django.core.management import call_command

from solde import clock
from solde.settlement.models import Statement
from solde.topups import online
from solde.topups.models import Topup
from tests.topups.conftest import active_sp, balance, fake_provider, partner_api  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_shop_and_online_top_ups_reach_the_suppliers_statement(
    active_sp,  # noqa: F811
    partner_api,  # noqa: F811
    fake_provider,  # noqa: F811
    live_server,
    settings,
    capsys,
):
    settings.SITE_URL = live_server.url  # where the provider sends its webhook
    sp = active_sp(supplier="SUPPLIER-A")
    other = active_sp(supplier="SUPPLIER-B")  # another supplier's customer: not on A's statement
    shop = partner_api("Librairie du Coin")

    receipt = shop(
        "POST",
        "/api/v1/topups",
        json={
            "reference": sp.customer_reference,
            "amount": "20.00",
            "channel": "retail",
            "partner_transaction_id": "coin-2026-0042",
        },
    )
    assert receipt.status_code == 201, receipt.content
    assert receipt.json()["balance"] == "30.00"
    shop(
        "POST",
        "/api/v1/topups",
        json={
            "reference": other.customer_reference,
            "amount": "15.00",
            "channel": "retail",
            "partner_transaction_id": "coin-2026-0043",
        },
    )

    payment = online.start_payment(sp.account, 2500, "bancontact", "http://portal.test/back")
    paid = requests.post(
        payment.checkout_url, data={"status": "paid"}, allow_redirects=False, timeout=20
    )
    assert paid.status_code == 303 and paid.headers["Location"] == "http://portal.test/back"
    assert balance(sp) == 1000 + 2000 + 2500

    online_topup = Topup.objects.get(channel="online")
    call_command("settle", "--period", "week", "--until", clock.today().isoformat(), "--issue")
    statement = Statement.objects.get(supplier__code="SUPPLIER-A")
    assert statement.status == "issued" and statement.total_cents == 4500
    capsys.readouterr()
    call_command("settlement", "export", str(statement.pk), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))

    lines = [r for r in rows if r["kind"] == "topup"]
    assert [(r["ean"], r["channel"], r["amount_eur"]) for r in lines] == [
        (sp.ean, "retail", "20.00"),
        (sp.ean, "online", "25.00"),
    ]
    # Each line leads back to its channel's own transaction: the shop's ticket number, the
    # provider's payment id, and the platform's top-up the receipt printed.
    assert lines[0]["reference"] == "coin-2026-0042"
    assert lines[0]["topup_id"] == str(receipt.json()["topup_id"])
    assert lines[1]["reference"] == online_topup.external_id
    assert lines[1]["topup_id"] == str(online_topup.pk)
    totals = {r["channel"]: r["amount_eur"] for r in rows if r["kind"] == "total"}
    assert totals == {"retail": "20.00", "online": "25.00", "": "45.00"}
    assert all(r["statement"] == statement.number for r in rows)
    assert other.ean not in {r["ean"] for r in rows}
