"""The operators' admin: manual adjustment (audited), suspense matching, statements."""

from __future__ import annotations

import pytest

from solde.settlement.models import Statement
from solde.topups import bank, services
from solde.topups.models import ManualAdjustment, Partner, SuspenseItem
from tests.topups.conftest import balance
from tests.topups.test_bank import entry, statement

pytestmark = pytest.mark.django_db


def test_manual_adjustment_in_the_admin_is_audited(active_sp, admin_client, admin_user):
    sp = active_sp()
    url = "/admin/topups/manualadjustment/add/"
    assert admin_client.get(url).status_code == 200
    r = admin_client.post(
        url, {"reference": sp.ean, "kind": "adjustment", "amount": "-2.50", "reason": ""}
    )
    assert r.status_code == 200 and not ManualAdjustment.objects.exists()
    r = admin_client.post(
        url, {"reference": sp.ean, "kind": "adjustment", "amount": "abc", "reason": "x"}
    )
    assert r.status_code == 200 and not ManualAdjustment.objects.exists()
    r = admin_client.post(
        url,
        {
            "reference": sp.ean,
            "kind": "adjustment",
            "amount": "-2.50",
            "reason": "Compteur mal relevé",
        },
    )
    assert r.status_code == 302, r.content
    adj = ManualAdjustment.objects.get()
    assert adj.operator == admin_user and adj.reason == "Compteur mal relevé"
    assert balance(sp) == 750
    page = admin_client.get(f"/admin/topups/manualadjustment/{adj.pk}/change/")
    assert page.status_code == 200 and b"Compteur mal relev" in page.content


def test_operator_matches_a_suspense_item_to_an_ean(active_sp, admin_client):
    sp = active_sp()
    bank.import_statement(statement(entry("R1", "25.00", text="pour ma mère")))
    item = SuspenseItem.objects.get()
    url = f"/admin/topups/suspenseitem/{item.pk}/change/"
    assert admin_client.get(url).status_code == 200
    r = admin_client.post(url, {"match_to": "5414488000000000000", "note": ""})
    assert r.status_code == 200  # unknown/invalid EAN: form error, nothing credited
    r = admin_client.post(url, {"match_to": sp.ean, "note": ""})
    assert r.status_code == 302
    item.refresh_from_db()
    assert item.status == "matched" and item.resolved_by == "admin"
    assert balance(sp) == 3500


def test_partner_created_in_the_admin_gets_a_key_shown_once(admin_client):
    r = admin_client.post(
        "/admin/topups/partner/add/",
        {"name": "Night shop", "channel": "retail", "active": "on"},
        follow=True,
    )
    assert r.status_code == 200
    partner = Partner.objects.get()
    assert partner.api_key is not None and b"solde_" in r.content


def test_statement_actions(active_sp, admin_client):
    sp = active_sp()
    services.credit_topup(sp.account, 2000, channel="retail", external_id="x")
    from solde import clock
    from solde.settlement.services import settle

    settle("week", clock.today())
    s = Statement.objects.get()
    url = "/admin/settlement/statement/"
    admin_client.post(url, {"action": "issue", "_selected_action": [s.pk]})
    s.refresh_from_db()
    assert s.status == "issued"
    r = admin_client.post(url, {"action": "export_csv", "_selected_action": [s.pk]})
    assert r["Content-Type"].startswith("text/csv") and b"20.00" in r.content
    assert admin_client.get(f"{url}{s.pk}/change/").status_code == 200
    for model in (
        "topup",
        "onlinepayment",
        "webhookcall",
        "bankline",
        "bankstatement",
        "suspenseitem",
        "manualadjustment",
        "partner",
    ):
        assert admin_client.get(f"/admin/topups/{model}/").status_code == 200
    assert admin_client.get("/admin/settlement/supplierprice/").status_code == 200
    topup = services.Topup.objects.get()
    assert admin_client.get(f"/admin/topups/topup/{topup.pk}/change/").status_code == 200


def test_operator_uploads_a_statement_and_sees_the_four_totals(active_sp, admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from solde.topups.models import BankLine

    sp = active_sp()
    url = "/admin/topups/bankstatement/import/"
    listing = admin_client.get("/admin/topups/bankstatement/")
    assert url.encode() in listing.content
    data = statement(
        entry("R1", "40.00", ogm=sp.structured_communication), entry("R2", "7.00", text="?")
    )
    r = admin_client.post(url, {"file": SimpleUploadedFile("stmt.xml", data)})
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="bank-outcomes"' in page and "40.00 €" in page and "7.00 €" in page
    assert balance(sp) == 5000
    r = admin_client.post(url, {"file": SimpleUploadedFile("stmt.xml", data)})
    assert "déjà importé" in r.content.decode() and balance(sp) == 5000
    bad = data.replace(b"</Stmt>", b"<Ntry></Stmt>")
    r = admin_client.post(url, {"file": SimpleUploadedFile("bad.xml", bad)})
    assert "not well-formed" in r.content.decode()
    assert BankLine.objects.count() == 2
