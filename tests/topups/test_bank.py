"""CAMT.053 import: identity, the four outcomes, returns, statements that must add up, XSD."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from solde.ledger.services import account, verify
from solde.topups import bank, camt
from solde.topups.models import (
    BankLine,
    BankStatement,
    SuspenseItem,
    Topup,
    TopupReversal,
)
from tests.topups.camt_builder import Entry, document, statement, stmt_xml
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def entry(ref, amount, **kw) -> Entry:
    """A credit line with the bank reference `ref` (kept for the other test modules)."""
    return Entry(amount, ref=ref, **kw)


def ogm(sp) -> str:
    return sp.structured_communication


def nothing_written() -> bool:
    return not (BankStatement.objects.exists() or BankLine.objects.exists())


def test_lines_are_matched_by_ogm_then_reference_then_ean(active_sp):
    a, b, c = active_sp(), active_sp(), active_sp()
    data = statement(
        entry("R1", "40.00", ogm=ogm(a).strip("+")),
        entry(
            "R2",
            "15.50",
            text=f"recharge compteur {b.customer_reference[:4]} {b.customer_reference[4:]} merci",
        ),
        entry("R3", "300.00", text=f"EAN {c.ean}"),
        entry("R4", "99.00", ind="DBIT", text=a.ean),
    )
    r = bank.import_statement(data)
    # The debit names a's EAN but a has no 99.00 € transfer to take back: suspense, not a guess.
    assert (r.credited, r.suspense, r.refused, r.duplicate) == (3, 1, 0, 0)
    assert (balance(a), balance(b), balance(c)) == (5000, 2550, 31000)
    assert Topup.objects.get(supply_point=a).payer == "Jean Martin"
    assert verify().ok


def test_ogm_in_free_text_with_plus_signs(active_sp):
    a = active_sp()
    bank.import_statement(statement(entry("R1", "12.00", text=ogm(a))))
    assert balance(a) == 2200


def test_same_statement_twice_is_a_no_op_reported_as_such(active_sp, tmp_path, capsys):
    a = active_sp()
    data = statement(entry("R1", "40.00", ogm=ogm(a)), entry("R9", "7.00", text="no idea"))
    first = bank.import_statement(data)
    r = bank.import_statement(data)
    assert (r.already_imported, r.new_lines, r.credited, r.suspense) == (1, 0, 0, 0)
    # What the first import did is still shown for the statement.
    assert r.statements[0].totals["credited"].count == first.credited == 1
    assert balance(a) == 5000
    assert BankLine.objects.count() == 2 and SuspenseItem.objects.count() == 1
    path = tmp_path / "s.xml"
    path.write_bytes(data)
    call_command("import-bank-statement", str(path))
    assert "already imported, nothing changed" in capsys.readouterr().out


def test_same_identity_with_other_content_is_refused(active_sp):
    a = active_sp()
    bank.import_statement(statement(entry("R1", "40.00", ogm=ogm(a))))
    changed = statement(entry("R1", "40.00", ogm=ogm(a)), entry("R2", "5.00", ogm=ogm(a)))
    with pytest.raises(camt.CamtError, match="already imported .* with other content"):
        bank.import_statement(changed)
    assert balance(a) == 5000 and BankLine.objects.count() == 1


def test_two_statements_sharing_an_ntry_ref_are_both_new_money(active_sp):
    """NtryRef is unique only inside one statement: the next day's '1' is another transfer."""
    a = active_sp()
    day1 = statement(Entry("40.00", ntry_ref="1", ogm=ogm(a)), sid="2026-11-27", seq="331")
    day2 = statement(
        Entry("25.00", ntry_ref="1", ogm=ogm(a), booked_on="2026-11-28"),
        sid="2026-11-28",
        seq="332",
        opening_cents=104_000,
    )
    assert bank.import_statement(day1).credited == 1
    r = bank.import_statement(day2)
    assert (r.credited, r.duplicate, r.already_imported) == (1, 0, 0)
    assert r.statements[0].warnings == []  # 332 follows 331, 1 040.00 € follows on
    assert balance(a) == 1000 + 4000 + 2500
    assert verify().ok


def test_a_repeated_acct_svcr_ref_in_one_file_is_not_dropped(active_sp):
    """The balances prove the bank booked both: both are money, both are credited."""
    a = active_sp()
    r = bank.import_statement(
        statement(entry("SAME-REF", "22.00", ogm=ogm(a)), entry("SAME-REF", "22.00", ogm=ogm(a)))
    )
    assert (r.credited, r.duplicate) == (2, 0)
    assert balance(a) == 1000 + 4400
    assert len(set(BankLine.objects.values_list("key", flat=True))) == 2


def test_a_line_repeated_by_another_statement_is_a_duplicate_pointing_at_the_first(active_sp):
    a = active_sp()
    bank.import_statement(statement(entry("BANKREF-77", "40.00", ogm=ogm(a)), seq="331"))
    # The bank sends a copy under another id, with one new line.
    r = bank.import_statement(
        statement(
            entry("BANKREF-77", "40.00", ogm=ogm(a)),
            entry("BANKREF-78", "10.00", ogm=ogm(a)),
            sid="STMT-2026-331-COPY",
            seq="332",
            opening_cents=100_000,
        )
    )
    assert (r.credited, r.duplicate) == (1, 1)
    first = BankLine.objects.get(acct_svcr_ref="BANKREF-77", outcome="credited")
    dup = BankLine.objects.get(acct_svcr_ref="BANKREF-77", outcome="duplicate")
    assert dup.duplicate_of == first and dup.topup is None
    assert r.total("duplicate").cents == 4000
    assert balance(a) == 1000 + 4000 + 1000
    # The copy re-opens at 1 000.00 € after a statement that closed at 1 040.00 €: flagged.
    assert any("differs from the closing balance" in w for w in r.statements[0].warnings)


def test_long_keys_are_hashed_never_cut(active_sp):
    """Two lines whose references differ only in their last characters stay two lines."""
    a = active_sp()
    long_ref = "X" * 34
    account_id = "BE" + "9" * 32  # 34 characters: the longest IBAN the XSD takes
    r = bank.import_statement(
        statement(
            entry(long_ref + "1", "10.00", ogm=ogm(a)),
            entry(long_ref + "2", "11.00", ogm=ogm(a)),
            sid="S" * 35,
            iban=account_id,
        )
    )
    assert r.credited == 2 and balance(a) == 1000 + 2100
    keys = list(BankLine.objects.values_list("key", flat=True))
    assert len(set(keys)) == 2 and all(len(k) == 64 for k in keys)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"closing_cents": 100_000 + 4000 + 1}, "does not add up: opening balance 1000.00"),
        ({"summary": True, "summary_sum_delta": 100}, "TxsSummry"),
    ],
)
def test_a_statement_that_does_not_add_up_is_refused_whole(active_sp, kw, message):
    a = active_sp()
    good = stmt_xml(entry("OK-1", "5.00", ogm=ogm(a)), sid="GOOD", seq="330")
    bad = stmt_xml(entry("R1", "40.00", ogm=ogm(a)), **kw)
    with pytest.raises(camt.CamtError, match=message):
        bank.import_statement(document(good, bad))
    assert balance(a) == 1000 and nothing_written()


def test_a_summary_that_matches_is_accepted(active_sp):
    a = active_sp()
    data = statement(
        entry("R1", "40.00", ogm=ogm(a)), entry("R2", "3.00", ind="DBIT"), summary=True
    )
    assert bank.import_statement(data).credited == 1


def test_a_batch_whose_transactions_do_not_add_up_is_refused(active_sp):
    a, b = active_sp(), active_sp()
    batch = Entry("35.00", ref="BATCH1", txs=[("10.00", ogm(a)), ("24.00", ogm(b))])
    with pytest.raises(camt.CamtError, match="add up to 34.00 €, the entry says 35.00 €"):
        bank.import_statement(statement(batch))
    assert nothing_written()


def test_the_four_totals_equal_the_statement_figures(active_sp):
    a = active_sp()
    data = statement(
        entry("R1", "40.00", ogm=ogm(a)),
        entry("R2", "7.00", text="no idea"),
        Entry("9.99", ref="R3", status="PDNG", ogm=ogm(a)),
        Entry("2.50", ref="R4", ind="DBIT", text="frais bancaires", party="Banque"),
        opening_cents=50_000,
    )
    r = bank.import_statement(data)
    s = r.statements[0]
    assert {o: (t.count, t.cents) for o, t in s.totals.items()} == {
        "credited": (1, 4000),
        "suspense": (2, 700 - 250),
        "refused": (1, 999),
        "duplicate": (0, 0),
    }
    booked = s.totals["credited"].cents + s.totals["suspense"].cents
    assert booked == s.closing_cents - s.opening_cents
    refused = BankLine.objects.get(outcome="refused")
    assert "Not booked (status PDNG)" in refused.reason
    assert BankStatement.objects.get().totals["credited"] == [1, 4000]
    assert balance(a) == 5000


def test_the_command_shows_the_four_totals(active_sp, tmp_path, capsys):
    a = active_sp()
    path = tmp_path / "s.xml"
    path.write_bytes(
        statement(
            entry("R1", "40.00", ogm=ogm(a)),
            entry("R2", "7.00", text="no idea"),
            Entry("9.99", ref="R3", status="PDNG"),
        )
    )
    call_command("import-bank-statement", str(path))
    out = capsys.readouterr().out
    assert "Credited: 1 (40.00 €)" in out
    for label, amount in (("credited", "40.00 €"), ("suspense", "7.00 €"), ("refused", "9.99 €")):
        assert any(label in row and amount in row for row in out.splitlines()), out
    assert "total" in out and "56.99 €" in out
    assert "Opening 1000.00 € → closing 1047.00 €: adds up" in out


def test_a_returned_transfer_takes_the_top_up_back(active_sp):
    from solde.prepayment.signals import balance_changed

    a = active_sp()
    bank.import_statement(
        statement(entry("R1", "30.00", ogm=ogm(a), e2e="E2E-0001"), sid="D1", seq="1")
    )
    assert balance(a) == 4000
    seen: list[list[int]] = []

    def hook(sender, account_ids, reason, **kw):
        seen.append(list(account_ids))

    balance_changed.connect(hook)
    try:
        r = bank.import_statement(
            statement(
                Entry("30.00", ind="DBIT", ref="RET-1", e2e="E2E-0001", reason="AC04", rvsl=True),
                sid="D2",
                seq="2",
                opening_cents=103_000,
            )
        )
    finally:
        balance_changed.disconnect(hook)
    assert (r.credited, r.suspense) == (1, 0) and r.credited_cents == -3000
    assert balance(a) == 1000
    assert seen == [[a.account.pk]]  # credit control hears of it as of any balance change
    topup = Topup.objects.get()
    assert topup.status == "reversed"
    reversal = TopupReversal.objects.get()
    assert reversal.reason == "bank_return" and reversal.amount_cents == 3000
    line = BankLine.objects.get(credit=False)
    assert line.reversal == reversal and line.return_reason == "AC04"
    assert verify().ok
    # The same return file again changes nothing.
    again = statement(
        Entry("30.00", ind="DBIT", ref="RET-1", e2e="E2E-0001", reason="AC04", rvsl=True),
        sid="D2",
        seq="2",
        opening_cents=103_000,
    )
    assert bank.import_statement(again).already_imported == 1
    assert balance(a) == 1000


def test_a_return_matched_by_its_communication_and_payer(active_sp):
    """No end-to-end id: the OGM, the amount and the payer's IBAN find the transfer."""
    a = active_sp()
    bank.import_statement(statement(entry("R1", "30.00", ogm=ogm(a)), sid="D1", seq="1"))
    r = bank.import_statement(
        statement(
            Entry("30.00", ind="DBIT", ref="RET-1", ogm=ogm(a), reason="MD06"),
            sid="D2",
            seq="2",
            opening_cents=103_000,
        )
    )
    assert r.credited == 1 and balance(a) == 1000


def test_a_return_after_a_settlement_is_a_negative_line_in_the_next_one(active_sp):
    from solde import clock
    from solde.settlement import services as settlement
    from solde.settlement.models import StatementLine

    a = active_sp()
    bank.import_statement(statement(entry("R1", "30.00", ogm=ogm(a), e2e="E2E-9"), seq="1"))
    settlement.settle("day", date(2026, 11, 28), issue=True)
    clock.advance(timedelta(days=1))
    bank.import_statement(
        statement(
            Entry("30.00", ind="DBIT", ref="RET-9", e2e="E2E-9", reason="AC04"),
            sid="NEXT",
            seq="2",
            opening_cents=103_000,
        )
    )
    settlement.settle("day", date(2026, 11, 29))
    line = StatementLine.objects.get(kind="reversal")
    assert line.amount_cents == -3000 and line.statement.status == "draft"
    assert verify().ok


def test_a_debit_with_no_match_goes_to_suspense_then_an_operator_matches_it(active_sp):
    a = active_sp()
    bank.import_statement(statement(entry("R1", "30.00", ogm=ogm(a)), seq="1"))
    r = bank.import_statement(
        statement(
            Entry("30.00", ind="DBIT", ref="RET-X", text="retour", party="", party_iban=""),
            sid="D2",
            seq="2",
            opening_cents=103_000,
        )
    )
    assert (r.credited, r.suspense, r.suspense_cents) == (0, 1, -3000)
    item = SuspenseItem.objects.get()
    assert item.amount_cents == -3000 and "takes back no known top-up" in item.reason
    assert balance(a) == 4000  # nothing taken from a customer on a guess
    assert account("suspense:transfer", "suspense").balance_cents == -3000
    assert verify().ok
    with pytest.raises(bank.services.Conflict, match="cannot be returned"):
        bank.return_suspense(item)
    bank.match_suspense(item, a.ean, by="operator")
    item.refresh_from_db()
    assert item.status == "matched" and balance(a) == 1000
    assert account("suspense:transfer", "suspense").balance_cents == 0
    assert TopupReversal.objects.get().reason == "bank_return"
    assert verify().ok


def test_wrong_ogm_check_digit_goes_to_suspense_not_to_a_customer(active_sp):
    a = active_sp()
    digits = ogm(a).strip("+").replace("/", "")
    wrong_check = f"{(int(digits[10:]) % 97) + 1:02d}"
    bad = f"+++{digits[:3]}/{digits[3:7]}/{digits[7:10]}{wrong_check}+++"
    r = bank.import_statement(statement(entry("R1", "40.00", ogm=bad)))
    assert r.suspense == 1 and r.credited == 0
    item = SuspenseItem.objects.get()
    assert "check digit" in item.reason
    assert balance(a) == 1000
    assert verify().ok


def test_unmatched_and_closed_go_to_suspense_then_operator_matches_or_returns(active_sp):
    a, closed = active_sp(), active_sp()
    closed.account.state = "closed"
    closed.account.save()
    bank.import_statement(
        statement(
            entry("R1", "25.00", text="pour maman"),
            entry("R2", "30.00", ogm=ogm(closed)),
        )
    )
    first, second = SuspenseItem.objects.order_by("pk")
    assert "not active" in second.reason
    topup = bank.match_suspense(first, a.ean, by="operator")
    assert topup.amount_cents == 2500 and balance(a) == 3500
    with pytest.raises(bank.services.Conflict):
        bank.match_suspense(first, a.ean)
    bank.return_suspense(second, by="operator", note="closed account")
    second.refresh_from_db()
    assert second.status == "returned"
    assert account("suspense:transfer", "suspense").balance_cents == 0
    assert verify().ok


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"<Document><BkToCstmrStmt>", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b'<Document xmlns="urn:other"><x/></Document>', "not a CAMT.053"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>', "document type"),
        (
            document(stmt_xml(entry("R1", "1.00")), version="camt.053.001.04"),
            "in camt.053.001.04; Solde reads camt.053.001.02 and camt.053.001.08",
        ),
    ],
)
def test_malformed_files_are_refused_with_nothing_written(active_sp, data, message):
    with pytest.raises(camt.CamtError, match=message):
        bank.import_statement(data)
    assert nothing_written()


def test_xsd_refuses_an_invalid_v02_statement(active_sp):
    a = active_sp()
    data = statement(entry("R1", "40.00", ogm=ogm(a)))
    no_bank_code = data.replace(b"<BkTxCd>", b"<X>", 1).replace(b"</BkTxCd>", b"</X>", 1)
    with pytest.raises(camt.CamtError, match="official camt.053.001.02 schema"):
        bank.import_statement(no_bank_code)
    with pytest.raises(camt.CamtError, match="official camt.053.001.02 schema"):
        bank.import_statement(data.replace(b">40.00<", b">4O.00<"))
    assert balance(a) == 1000 and nothing_written()


def test_xsd_refuses_an_invalid_v08_statement(active_sp):
    a = active_sp()
    data = statement(entry("R1", "40.00", ogm=ogm(a)), v08=True)
    # v02's plain <Sts>BOOK</Sts> is not valid in v08 (a Cd/Prtry choice).
    bad = data.replace(b"<Sts><Cd>BOOK</Cd></Sts>", b"<Sts>BOOK</Sts>")
    with pytest.raises(camt.CamtError, match="official camt.053.001.08 schema"):
        bank.import_statement(bad)
    assert balance(a) == 1000 and nothing_written()


def test_a_v08_statement_imports(active_sp):
    a, b = active_sp(), active_sp()
    data = statement(
        entry("V8-1", "40.00", ogm=ogm(a), e2e="E2E-V8"),
        entry("V8-2", "12.00", text=f"ref {b.customer_reference}", party="Marie Claes"),
        summary=True,
        v08=True,
    )
    r = bank.import_statement(data)
    assert r.statements[0].version == "camt.053.001.08"
    assert (r.credited, r.suspense) == (2, 0)
    assert Topup.objects.get(supply_point=b).payer == "Marie Claes"
    r = bank.import_statement(
        statement(
            Entry("40.00", ind="DBIT", ref="V8-R", e2e="E2E-V8", reason="AC04"),
            sid="V8-NEXT",
            seq="332",
            opening_cents=105_200,
            v08=True,
        )
    )
    assert r.credited == 1 and (balance(a), balance(b)) == (1000, 2200)
    assert verify().ok


def test_a_bank_statement_without_references_imports_its_credits(active_sp):
    """As one large Dutch bank sends them: no AcctSvcrRef, no NtryRef, PRCD and OPBD
    balances, proprietary codes, and entry 1 a debit (made-up data)."""
    a, b = active_sp(), active_sp()
    data = (
        (FIXTURES / "camt053_no_references.xml")
        .read_text()
        .replace("@OGM_A@", ogm(a))
        .replace("@REF_B@", b.customer_reference)
        .encode()
    )
    r = bank.import_statement(data)
    assert (r.credited, r.suspense, r.refused, r.duplicate) == (2, 1, 0, 0)
    assert (balance(a), balance(b)) == (1000 + 2500, 1000 + 1250)
    debit = BankLine.objects.get(credit=False)
    assert debit.outcome == "suspense" and debit.entry_index == 1
    assert bank.import_statement(data).already_imported == 1
    assert verify().ok


def test_truncated_file_writes_nothing(active_sp, tmp_path):
    a = active_sp()
    data = statement(entry("R1", "40.00", ogm=ogm(a)), entry("R2", "40.00", ogm=ogm(a)))
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CommandError, match="not well-formed.*Nothing was imported"):
        call_command("import-bank-statement", str(path))
    assert not Topup.objects.exists() and balance(a) == 1000


def test_a_batch_entry_with_several_transactions_is_split(active_sp):
    a, b = active_sp(), active_sp()
    batch = Entry("35.00", ref="BATCH1", txs=[("10.00", ogm(a)), ("25.00", ogm(b))])
    r = bank.import_statement(statement(batch))
    assert r.credited == 2
    assert (balance(a), balance(b)) == (2000, 3500)
    assert sorted(BankLine.objects.values_list("entry_index", "tx_index")) == [(1, 1), (1, 2)]


def test_outcomes_that_do_not_account_for_the_statement_roll_everything_back(
    active_sp, monkeypatch
):
    """The final check is real: plant a tally that loses a suspense line's money."""
    a = active_sp()
    real_add = bank.StatementReport.add

    def lossy_add(self, outcome, cents, note=""):
        real_add(self, outcome, 0 if outcome == "suspense" else cents, note)

    monkeypatch.setattr(bank.StatementReport, "add", lossy_add)
    data = statement(entry("R1", "40.00", ogm=ogm(a)), entry("R2", "7.00", text="no idea"))
    with pytest.raises(camt.CamtError, match="do not account for the statement"):
        bank.import_statement(data)
    assert balance(a) == 1000 and nothing_written() and not Topup.objects.exists()
