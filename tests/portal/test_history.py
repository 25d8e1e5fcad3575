"""History: top-ups and daily charges from the ledger, filterable, as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from html import unescape

from django.db import transaction

from solde import clock
from solde.ledger.models import AccountKind
from solde.ledger.services import Posting, account, collections_account, post_many


def fill(sp):
    """A top-up on 20/11 and daily charges on 25, 26, 27/11."""
    acc = sp.account
    sales = account("energy_sales:test", AccountKind.ENERGY_SALES)
    postings = [
        Posting(
            key="topup-1",
            kind="topup",
            entries=[(acc.balance_account_id, 3000), (collections_account("retail").pk, -3000)],
            at=clock.local_datetime(date(2026, 11, 20), 10),
            supply_point_id=sp.pk,
            reference="shop 42",
        ),
    ]
    for d in (25, 26, 27):
        day = date(2026, 11, d)
        postings.append(
            Posting(
                key=f"charge-{d}",
                kind="charge",
                entries=[(acc.balance_account_id, -310), (sales.pk, 310)],
                at=clock.local_datetime(day + timedelta(days=1), 0, 30),
                day=day,
                supply_point_id=sp.pk,
            )
        )
    with transaction.atomic():
        post_many(postings)


def test_history_lists_topups_and_charges(logged, active_sp):
    fill(active_sp)
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/historique/").content.decode())
    assert "Recharge" in page and "+30,00\xa0€" in page
    assert "Consommation du 27/11/2026" in page and "-3,10\xa0€" in page
    assert "Avance de départ" in page
    assert "Télécharger (CSV)" in page


def test_filter_by_kind_and_dates(logged, active_sp):
    fill(active_sp)
    url = f"/espace/ean/{active_sp.ean}/historique/"
    page = unescape(logged.get(url, {"kind": "topup"}).content.decode())
    assert "+30,00\xa0€" in page and "Consommation du" not in page
    page = logged.get(url, {"kind": "charge", "start": "2026-11-26", "end": "2026-11-26"})
    page = unescape(page.content.decode())
    # A charge counts on the day consumed, though it is posted after that midnight.
    assert page.count("Consommation du") == 1 and "Consommation du 26/11/2026" in page
    page = logged.get(url, {"kind": "charge", "start": "2026-11-27", "end": "2026-11-28"})
    assert unescape(page.content.decode()).count("Consommation du") == 1
    # Top-ups count on the day the money moved.
    page = logged.get(url, {"start": "2026-11-20", "end": "2026-11-20"})
    assert "+30,00\xa0€" in unescape(page.content.decode())
    page = logged.get(url, {"start": "2026-11-21", "end": "2026-11-24"})
    assert "Aucune opération pour ces critères." in unescape(page.content.decode())


def test_bad_dates_are_explained(logged, active_sp):
    r = logged.get(
        f"/espace/ean/{active_sp.ean}/historique/", {"start": "2026-11-28", "end": "2026-11-01"}
    )
    assert "La date de début doit précéder la date de fin." in unescape(r.content.decode())


def test_csv_download(logged, active_sp):
    fill(active_sp)
    r = logged.get(f"/espace/ean/{active_sp.ean}/historique/", {"format": "csv"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert f"solde-{active_sp.ean}-historique.csv" in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Date", "Opération", "Montant (EUR)", "Référence"]
    assert len(rows) == 1 + 5  # advance, top-up, three charges
    amounts = sorted(row[2] for row in rows[1:])
    assert amounts == ["-3.10", "-3.10", "-3.10", "10.00", "30.00"]
    assert ["2026-11-20 10:00", "Recharge", "30.00", "shop 42"] in rows


def test_csv_follows_the_filter(logged, active_sp):
    fill(active_sp)
    r = logged.get(f"/espace/ean/{active_sp.ean}/historique/", {"format": "csv", "kind": "topup"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 2


def test_other_customers_transactions_never_show(logged, active_sp, other_sp):
    fill(other_sp)
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/historique/").content.decode())
    assert "Consommation du" not in page
