"""CAMT.053 import: matching, suspense, idempotency, bad files."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from django.core.management import CommandError, call_command

from solde.ledger.services import verify
from solde.topups import bank, camt
from solde.topups.models import BankLine, SuspenseItem, Topup
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def entry(ref, amount, *, ogm="", text="", debtor="Jean Martin", ind="CRDT", status="BOOK"):
    strd = (
        f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>BBA</Issr></Tp>"
        f"<Ref>{escape(ogm)}</Ref></CdtrRefInf></Strd>"
        if ogm
        else ""
    )
    ustrd = f"<Ustrd>{escape(text)}</Ustrd>" if text else ""
    return f"""
    <Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts>{status}</Sts>
      <BookgDt><Dt>2026-11-27</Dt></BookgDt><ValDt><Dt>2026-11-27</Dt></ValDt>
      <AcctSvcrRef>{ref}</AcctSvcrRef>
      <BkTxCd><Domn><Cd>PMNT</Cd></Domn></BkTxCd>
      <NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs>
        <RltdPties><Dbtr><Nm>{escape(debtor)}</Nm></Dbtr>
          <DbtrAcct><Id><IBAN>BE71096123456769</IBAN></Id></DbtrAcct></RltdPties>
        <RmtInf>{ustrd}{strd}</RmtInf></TxDtls></NtryDtls></Ntry>"""


def statement(*entries, sid="STMT-2026-331"):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS}"><BkToCstmrStmt>
  <GrpHdr><MsgId>MSG1</MsgId><CreDtTm>2026-11-28T06:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>{sid}</Id><CreDtTm>2026-11-28T06:00:00</CreDtTm>
    <Acct><Id><IBAN>BE68539007547034</IBAN></Id></Acct>
    {"".join(entries)}
  </Stmt></BkToCstmrStmt></Document>""".encode()


def test_lines_are_matched_by_ogm_then_reference_then_ean(active_sp):
    a, b, c = active_sp(), active_sp(), active_sp()
    data = statement(
        entry("R1", "40.00", ogm=a.structured_communication.strip("+")),
        entry(
            "R2",
            "15.50",
            text=f"recharge compteur {b.customer_reference[:4]} {b.customer_reference[4:]} merci",
        ),
        entry("R3", "300.00", text=f"EAN {c.ean}"),
        entry("R4", "99.00", ind="DBIT", text=a.ean),
    )
    r = bank.import_statement(data)
    assert (r.credited, r.suspense, r.ignored) == (3, 0, 1)
    assert (balance(a), balance(b), balance(c)) == (5000, 2550, 31000)
    assert Topup.objects.get(supply_point=a).payer == "Jean Martin"
    assert verify().ok


def test_ogm_in_free_text_with_plus_signs(active_sp):
    a = active_sp()
    bank.import_statement(statement(entry("R1", "12.00", text=a.structured_communication)))
    assert balance(a) == 2200


def test_same_statement_twice_changes_nothing(active_sp):
    a = active_sp()
    data = statement(
        entry("R1", "40.00", ogm=a.structured_communication), entry("R9", "7.00", text="no idea")
    )
    bank.import_statement(data)
    r = bank.import_statement(data)
    assert (r.new_lines, r.already_imported, r.credited, r.suspense) == (0, 2, 0, 0)
    assert balance(a) == 5000
    assert BankLine.objects.count() == 2 and SuspenseItem.objects.count() == 1


def test_wrong_ogm_check_digit_goes_to_suspense_not_to_a_customer(active_sp):
    a = active_sp()
    digits = a.structured_communication.strip("+").replace("/", "")
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
            entry("R2", "30.00", ogm=closed.structured_communication),
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
    from solde.ledger.services import account

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
    ],
)
def test_malformed_files_are_refused_with_nothing_written(active_sp, data, message):
    with pytest.raises(camt.CamtError, match=message):
        bank.import_statement(data)
    assert not BankLine.objects.exists()


def test_truncated_file_writes_nothing(active_sp, tmp_path):
    a = active_sp()
    data = statement(
        entry("R1", "40.00", ogm=a.structured_communication),
        entry("R2", "40.00", ogm=a.structured_communication),
    )
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CommandError, match="not well-formed.*Nothing was imported"):
        call_command("import-bank-statement", str(path))
    assert not Topup.objects.exists() and balance(a) == 1000


def test_bad_amount_in_a_later_entry_writes_nothing(active_sp):
    a = active_sp()
    data = statement(
        entry("R1", "40.00", ogm=a.structured_communication),
        entry("R2", "4O.00", ogm=a.structured_communication),
    )
    with pytest.raises(camt.CamtError, match="not an amount"):
        bank.import_statement(data)
    assert balance(a) == 1000 and not BankLine.objects.exists()


def test_command_reports_what_it_did(active_sp, tmp_path, capsys):
    a = active_sp()
    path = tmp_path / "s.xml"
    path.write_bytes(statement(entry("R1", "40.00", ogm=a.structured_communication)))
    call_command("import-bank-statement", str(path))
    out = capsys.readouterr().out
    assert "Credited: 1 (40.00 €)" in out


def test_a_batch_entry_with_several_transactions_is_split(active_sp):
    a, b = active_sp(), active_sp()

    def tx(amount, ogm):
        return (
            f'<TxDtls><Amt Ccy="EUR">{amount}</Amt><RmtInf><Strd><CdtrRefInf>'
            f"<Ref>{ogm}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>"
        )

    batch = (
        '<Ntry><Amt Ccy="EUR">35.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-27</Dt></BookgDt>"
        "<AcctSvcrRef>BATCH1</AcctSvcrRef><NtryDtls>"
        + tx("10.00", a.structured_communication)
        + tx("25.00", b.structured_communication)
        + "</NtryDtls></Ntry>"
    )
    r = bank.import_statement(statement(batch))
    assert r.credited == 2
    assert (balance(a), balance(b)) == (2000, 3500)
    assert sorted(BankLine.objects.values_list("key", flat=True)) == [
        "BE68539007547034:BATCH1/1",
        "BE68539007547034:BATCH1/2",
    ]
