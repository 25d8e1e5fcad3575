"""The admin shows accounts, closed days and the ledger, searchable and read-only."""

from __future__ import annotations

import pytest

from solde.ledger.models import Transaction
from tests.prepayment.helpers import activated, midnight

pytestmark = pytest.mark.django_db


def test_admin_pages_list_and_search(admin_client, make_supply_point, frozen):
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-27"))
    tx = Transaction.objects.get(idempotency_key=f"advance:{acc.pk}")
    for url in (
        "/admin/prepayment/prepaymentaccount/",
        f"/admin/prepayment/prepaymentaccount/?q={sp.ean}",
        "/admin/prepayment/daycharge/",
        "/admin/prepayment/closerun/",
        "/admin/ledger/ledgeraccount/?q=balance",
        f"/admin/ledger/transaction/?q={sp.ean}",
        f"/admin/ledger/transaction/{tx.pk}/change/",
    ):
        r = admin_client.get(url)
        assert r.status_code == 200, url
    page = admin_client.get(f"/admin/prepayment/prepaymentaccount/?q={sp.ean}").content.decode()
    assert sp.ean in page and "10.00" in page
    assert admin_client.get("/admin/ledger/transaction/add/").status_code == 403
