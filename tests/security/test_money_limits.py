"""Issue 11 point 9: money from outside above the per-line limit is held for an operator's
review (suspense, with its reason), not credited blindly; the statement still adds up. Its
release is a four-eyes request: one operator asks with a reason, a supervisor — another
person — approves; both are audited."""

# ruff: noqa: F811  (the fixtures imported from other test packages are the arguments)
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from solde.backoffice import services as console
from solde.backoffice.models import FourEyesRequest, OperatorAction
from solde.ledger.services import verify
from solde.money import parse_eur
from solde.notifications.rules import format_amount
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


def held_item(sp, amount="2500.00") -> SuspenseItem:
    held_import(sp, amount=amount)
    return SuspenseItem.objects.get(amount_cents=parse_eur(amount))


def test_a_held_line_is_released_by_a_second_person_a_supervisor(active_sp, operator):
    sp = active_sp()
    item = held_item(sp)
    asker = operator("backoffice")
    # Asking moves no money: it is a request that waits for a supervisor.
    req = console.match_suspense(asker, item, sp.customer_reference, "Vérifié avec le client")
    assert isinstance(req, FourEyesRequest)
    assert (req.kind, req.status, req.amount_cents) == ("release_held_line", "pending", 250_000)
    assert req.account.supply_point == sp and req.suspense_item == item
    assert balance(sp) == ADVANCE + 4000
    item.refresh_from_db()
    assert item.status == "open"
    # One request at a time per line.
    with pytest.raises(console.ActionError):
        console.match_suspense(operator("supervisor"), item, sp.ean, "moi aussi")
    # A back-office colleague may approve adjustments, not a held line.
    with pytest.raises(PermissionDenied):
        console.decide(operator("backoffice"), req, True, "ok")
    supervisor = operator("supervisor")
    result = console.decide(supervisor, req, True, "Vérifié à la banque")
    assert "2500.00" in result and sp.ean in result
    assert balance(sp) == ADVANCE + 4000 + 250_000
    item.refresh_from_db()
    topup = Topup.objects.get(amount_cents=250_000)
    assert item.status == "matched" and item.topup == topup
    assert BankLine.objects.get(amount_cents=250_000).topup_id == topup.pk
    req.refresh_from_db()
    assert (req.status, req.decided_by, req.decision_reason) == (
        "approved",
        supervisor,
        "Vérifié à la banque",
    )
    # Audited: who asked and why, who released and why.
    actions = {
        (a.kind, a.user_id, a.reason) for a in OperatorAction.objects.filter(supply_point=sp)
    }
    assert ("held_line_requested", asker.pk, "Vérifié avec le client") in actions
    assert ("held_line_released", supervisor.pk, "Vérifié à la banque") in actions
    assert ("suspense_matched", supervisor.pk, "Vérifié avec le client") in actions
    # Once only.
    with pytest.raises(console.ActionError):
        console.decide(operator("supervisor"), req, True, "encore")
    with pytest.raises(console.ActionError):
        console.match_suspense(operator("supervisor"), item, sp.ean, "encore")
    assert Topup.objects.filter(amount_cents=250_000).count() == 1
    assert verify().ok


def test_the_asker_cannot_approve_their_own_release(active_sp, operator):
    sp = active_sp()
    item = held_item(sp)
    supervisor = operator("supervisor")
    req = console.match_suspense(supervisor, item, sp.ean, "Vérifié")
    with pytest.raises(console.ActionError):
        console.decide(supervisor, req, True, "Je confirme")
    req.refresh_from_db()
    assert req.status == "pending"
    assert balance(sp) == ADVANCE + 4000
    assert not Topup.objects.filter(amount_cents=250_000).exists()


def test_a_refused_release_credits_nothing_and_the_line_can_be_asked_again(active_sp, operator):
    sp = active_sp()
    item = held_item(sp)
    req = console.match_suspense(operator("backoffice"), item, sp.ean, "Le client a appelé")
    console.decide(operator("supervisor"), req, False, "Montant inhabituel, à vérifier")
    req.refresh_from_db()
    assert req.status == "refused"
    assert balance(sp) == ADVANCE + 4000
    item.refresh_from_db()
    assert item.status == "open"
    assert OperatorAction.objects.filter(kind="held_line_refused").count() == 1
    again = console.match_suspense(operator("backoffice"), item, sp.ean, "Virement confirmé")
    assert again.status == "pending"


def test_a_release_to_an_unknown_reference_is_refused_at_once(active_sp, operator):
    sp = active_sp()
    item = held_item(sp)
    with pytest.raises(console.ActionError):
        console.match_suspense(operator("backoffice"), item, "541448800000000000", "x")
    assert not FourEyesRequest.objects.exists()


def test_the_console_asks_then_another_supervisor_releases(active_sp, console_client):
    sp = active_sp()
    item = held_item(sp)
    client = console_client("backoffice")
    page = client.get(f"/console/suspense/{item.pk}/match/").content.decode()
    assert "superviseur" in page
    response = client.post(
        f"/console/suspense/{item.pk}/match/",
        {"reference": sp.ean, "reason": "Facture annuelle payée en une fois"},
    )
    assert response.status_code == 302
    req = FourEyesRequest.objects.get(suspense_item=item)
    assert balance(sp) == ADVANCE + 4000
    # The approvals queue lists it; a back-office operator may not open it.
    assert sp.ean in client.get("/console/queues/approvals/").content.decode()
    assert client.get(f"/console/requests/{req.pk}/").status_code == 403
    # A supervisor sees what is released (payer, amount) and approves.
    client = console_client("supervisor")
    page = client.get(f"/console/requests/{req.pk}/").content.decode()
    assert format_amount(250_000, "fr") in page
    assert "Held for review" in page  # why it was held
    response = client.post(
        f"/console/requests/{req.pk}/",
        {"decision": "approve", "reason": "Relevé bancaire vérifié"},
    )
    assert response.status_code == 302
    assert balance(sp) == ADVANCE + 4000 + 250_000
    req.refresh_from_db()
    assert req.status == "approved"


def test_the_console_refuses_the_askers_own_approval(active_sp, console_client):
    sp = active_sp()
    item = held_item(sp)
    client = console_client("supervisor")
    client.post(f"/console/suspense/{item.pk}/match/", {"reference": sp.ean, "reason": "Vu"})
    req = FourEyesRequest.objects.get(suspense_item=item)
    response = client.post(
        f"/console/requests/{req.pk}/", {"decision": "approve", "reason": "Moi-même"}
    )
    assert response.status_code == 400
    assert "autre personne" in response.content.decode()
    assert balance(sp) == ADVANCE + 4000


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
