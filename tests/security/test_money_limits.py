"""Issue 11 point 9: money from outside above the per-line limit is held for an operator's
review (suspense, with its reason), not credited blindly; the statement still adds up."""

# ruff: noqa: F811  (the fixtures imported from other test packages are the arguments)
from __future__ import annotations

import pytest

from solde.backoffice import services as console
from solde.ledger.services import verify
from solde.topups import bank
from solde.topups.admin import SuspenseForm
from solde.topups.models import BankLine, BankStatement, LineOutcome, SuspenseItem, Topup
from tests.backoffice.conftest import console as console_client  # noqa: F401
from tests.backoffice.conftest import operator  # noqa: F401
from tests.topups.camt_builder import Entry, statement
from tests.topups.conftest import active_sp, balance  # noqa: F401

pytestmark = pytest.mark.django_db

ADVANCE = 1000  # the 10 € advance of a new account


def ogm(sp) -> str:
    return sp.structured_communication.strip("+")


def held_import(sp, amount="999999999.99"):
    """A 40 € line and a line of `amount`, both matching sp; the opening balance leaves room for
    the closing balance under the largest amount a CAMT file may carry."""
    return bank.import_statement(
        statement(
            Entry("40.00", ref="SMALL1", ogm=ogm(sp)),
            Entry(amount, ref="BIG1", ogm=ogm(sp)),
            Entry("40.00", ref="FEE1", ind="DBIT", text="bank fees"),
            opening_cents=0,
        )
    )


def test_a_huge_bank_line_is_held_with_its_reason_and_the_statement_adds_up(active_sp):
    sp = active_sp()
    r = held_import(sp)
    # Imported, every line accounted: the small one credited, the huge one in suspense.
    assert BankStatement.objects.count() == 1
    assert (r.credited, r.suspense, r.refused, r.duplicate) == (1, 2, 0, 0)
    assert r.suspense_cents == 99_999_999_999 - 4000  # the held line and the unmatched fee
    assert balance(sp) == ADVANCE + 4000
    line = BankLine.objects.get(amount_cents=99_999_999_999)
    assert line.outcome == LineOutcome.SUSPENSE and line.topup_id is None
    item = SuspenseItem.objects.get(line=line)
    assert item.reason.startswith("Held for review: above the limit of 1000.00 € per line")
    assert sp.ean in item.reason  # the operator sees which account it matched
    assert any("Held for review" in n for n in r.statements[0].notes)
    assert not Topup.objects.filter(amount_cents=99_999_999_999).exists()
    assert verify().ok


def test_a_line_at_the_threshold_is_credited_and_one_cent_above_is_held(active_sp, settings):
    sp = active_sp()
    r = bank.import_statement(
        statement(
            Entry("1000.00", ref="AT", ogm=ogm(sp)),
            Entry("1000.01", ref="ABOVE", ogm=ogm(sp)),
        )
    )
    assert (r.credited, r.suspense) == (1, 1)
    assert balance(sp) == ADVANCE + 100_000
    assert SuspenseItem.objects.get().amount_cents == 100_001


def test_the_threshold_is_a_setting(active_sp, settings):
    settings.MAX_TOPUP_PER_LINE_CENTS = 5_000
    sp = active_sp()
    r = bank.import_statement(statement(Entry("60.00", ref="S1", ogm=ogm(sp))))
    assert (r.credited, r.suspense) == (0, 1)
    assert balance(sp) == ADVANCE


def test_the_balance_moves_only_when_a_supervisor_releases_it_and_only_once(active_sp, operator):
    sp = active_sp()
    held_import(sp, amount="2500.00")
    item = SuspenseItem.objects.get(amount_cents=250_000)
    assert balance(sp) == ADVANCE + 4000
    # A back-office operator (limit 500 €) may not release 2,500 € alone: nothing written.
    with pytest.raises(console.ActionError):
        console.match_suspense(operator("backoffice"), item, sp.ean, "Vérifié avec le client")
    assert balance(sp) == ADVANCE + 4000
    item.refresh_from_db()
    assert item.status == "open"
    topup = console.match_suspense(operator("supervisor"), item, sp.ean, "Vérifié à la banque")
    assert topup.amount_cents == 250_000
    assert balance(sp) == ADVANCE + 4000 + 250_000
    with pytest.raises(console.ActionError):
        console.match_suspense(operator("supervisor"), item, sp.ean, "encore")
    assert balance(sp) == ADVANCE + 4000 + 250_000
    assert Topup.objects.filter(amount_cents=250_000).count() == 1
    assert BankLine.objects.get(amount_cents=250_000).topup_id == topup.pk
    assert verify().ok


def test_the_admin_does_not_release_held_money_around_the_console(active_sp):
    sp = active_sp()
    held_import(sp, amount="2500.00")
    form = SuspenseForm(
        data={"match_to": sp.ean, "note": ""},
        instance=SuspenseItem.objects.get(amount_cents=250_000),
    )
    assert not form.is_valid()
    assert balance(sp) == ADVANCE + 4000


def test_the_console_queue_shows_the_held_line_and_its_reason(active_sp, console_client):
    sp = active_sp()
    held_import(sp)
    page = console_client("backoffice").get("/console/queues/suspense/").content.decode()
    assert "Held for review" in page and sp.ean in page
