"""Reading ISO 20022 CAMT.053 bank-to-customer statements (camt.053.001.02 and .08).

The standard library's XML parser, made safe first: a document type declaration (the door to
entity expansion and external entities) is refused before anything else reads the file. Then the
file is validated against the official XSD of its version (shipped in `xsd/`), then read, then
checked: the entries must add up to the statement's own figures (TxsSummry when present, and
opening balance + credits − debits = closing balance). A file that fails any step raises
CamtError and nothing is read: the caller writes nothing.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from xml.parsers import expat

from solde.money import InvalidAmount, format_eur, parse_eur

if TYPE_CHECKING:
    import xmlschema

NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053."
VERSIONS = ("camt.053.001.02", "camt.053.001.08")
XSD_DIR = Path(__file__).parent / "xsd"
OPENING_CODES = ("OPBD", "PRCD")  # opening booked; or the previous day's closing booked
CLOSING_CODE = "CLBD"


class CamtError(ValueError):
    """The file cannot be read as a CAMT.053 statement; the message says where and why."""


@dataclass
class CamtLine:
    """One transaction of a statement: an entry, or one transaction of a batch entry."""

    entry_index: int  # position of the entry in its statement, from 1
    tx_index: int  # position of the transaction in its entry, from 1
    amount_cents: int  # always positive; the direction is `credit`
    credit: bool
    booked: bool
    status: str  # BOOK, PDNG, INFO…
    reversal: bool  # RvslInd: this entry reverses an earlier one
    booking_date: date | None
    acct_svcr_ref: str = ""  # the bank's reference (transaction's, else the entry's)
    ntry_ref: str = ""  # often unique only inside one statement: never an identity alone
    end_to_end_id: str = ""
    return_reason: str = ""  # RtrInf/Rsn (AC04, MD06…): a returned payment
    counterparty_name: str = ""  # the debtor of a credit, the creditor of a debit
    counterparty_iban: str = ""
    structured: str = ""  # Strd/CdtrRefInf/Ref: where Belgian banks put the OGM
    text: str = ""  # Ustrd, joined

    @property
    def signed_cents(self) -> int:
        return self.amount_cents if self.credit else -self.amount_cents

    @property
    def is_return(self) -> bool:
        return not self.credit

    @property
    def label(self) -> str:
        ref = self.acct_svcr_ref or self.ntry_ref or self.end_to_end_id
        where = f"entry {self.entry_index}" + (f".{self.tx_index}" if self.tx_index > 1 else "")
        return f"{where} ({ref})" if ref else where


@dataclass
class CamtStatement:
    version: str
    statement_id: str
    electronic_seq: str
    legal_seq: str
    iban: str
    created_on: str
    copy_indicator: str = ""
    opening_cents: int | None = None
    closing_cents: int | None = None
    entries: int = 0
    lines: list[CamtLine] = field(default_factory=list)

    @property
    def sequence(self) -> str:
        return self.electronic_seq or self.legal_seq

    @property
    def title(self) -> str:
        seq = f" no {self.sequence}" if self.sequence else ""
        return f"{self.iban} {self.statement_id}{seq}"

    def line_key(self, line: CamtLine) -> str:
        """The line's identity: its statement (account, id, sequence), its position and its
        references, hashed so that no key is ever cut short."""
        parts = [
            self.iban,
            self.statement_id,
            self.electronic_seq,
            self.legal_seq,
            str(line.entry_index),
            str(line.tx_index),
            line.acct_svcr_ref,
            line.ntry_ref,
            line.end_to_end_id,
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def fingerprint(self) -> str:
        """What the statement says (balances and every line): the same statement sent twice
        has the same fingerprint; a changed one does not."""
        h = hashlib.sha256()
        h.update(f"{self.opening_cents}|{self.closing_cents}|{self.entries}".encode())
        for ln in self.lines:
            h.update(
                "\x1f".join(
                    [
                        self.line_key(ln),
                        str(ln.signed_cents),
                        ln.status,
                        str(ln.booking_date or ""),
                        ln.structured,
                        ln.text,
                        ln.counterparty_iban,
                    ]
                ).encode()
            )
        return h.hexdigest()

    @property
    def booked_net_cents(self) -> int:
        return sum(ln.signed_cents for ln in self.lines if ln.booked)


def _refuse_doctype(*_args) -> None:
    raise CamtError("The file declares a document type (DTD): refused for safety.")


def _check_safe_and_well_formed(data: bytes) -> None:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise CamtError(
            f"The file is not well-formed XML (line {exc.lineno}, column {exc.offset}): "
            f"{expat.ErrorString(exc.code)}. Is it complete? Download the statement again."
        ) from exc


@cache
def schema(version: str) -> xmlschema.XMLSchema:
    """The official ISO 20022 schema of a supported version (loaded once per process)."""
    import xmlschema  # a seventh of every process's start-up: only statements need it

    return xmlschema.XMLSchema(str(XSD_DIR / f"{version}.xsd"))


def _validate(root: ET.Element, version: str) -> None:
    error = next(schema(version).iter_errors(root), None)
    if error is not None:
        where = error.path or "the document"
        reason = (error.reason or str(error)).strip().rstrip(".")
        raise CamtError(
            f"The file does not follow the official {version} schema (ISO 20022): {reason} "
            f"(at {where}). Ask the bank for a valid statement."
        )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _children(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if el is None else [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element | None, *path: str) -> str:
    found = _child(el, *path) if path else el
    return (found.text or "").strip() if found is not None and found.text else ""


def _code(el: ET.Element | None) -> str:
    """A code given directly (v02 `<Sts>BOOK</Sts>`) or as a choice (v08 `<Sts><Cd>`)."""
    return _text(el) or _text(el, "Cd") or _text(el, "Prtry")


def _cents(text: str, where: str) -> int:
    try:
        return parse_eur(text)
    except InvalidAmount as exc:
        raise CamtError(
            f"{where}: '{text}' is not an amount in euros (2 decimals at most)."
        ) from exc


def _amount(el: ET.Element | None, where: str) -> int:
    if el is None:
        raise CamtError(f"{where}: the amount (Amt) is missing.")
    ccy = el.get("Ccy", "")
    if ccy != "EUR":
        raise CamtError(f"{where}: amount in {ccy or 'no currency'}; only EUR is handled.")
    return _cents(el.text or "", where)


def _signed(el: ET.Element | None, amount: ET.Element | None, where: str) -> int:
    cents = _amount(amount, where)
    return -cents if _text(el, "CdtDbtInd") == "DBIT" else cents


def _date(el: ET.Element | None) -> date | None:
    text = _text(el, "Dt") or _text(el, "DtTm")[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as exc:
        raise CamtError(f"'{text}' is not a date.") from exc


def _tx_amount(tx: ET.Element, where: str) -> int | None:
    # v08 puts it in TxDtls/Amt; v02 only in AmtDtls (TxAmt, else InstdAmt).
    for path in (("Amt",), ("AmtDtls", "TxAmt", "Amt"), ("AmtDtls", "InstdAmt", "Amt")):
        el = _child(tx, *path)
        if el is not None:
            return _amount(el, where)
    return None


def _party(parties: ET.Element | None, role: str) -> tuple[str, str]:
    """(name, IBAN) of the debtor or creditor: v02 `Dbtr/Nm`, v08 `Dbtr/Pty/Nm`."""
    who = _child(parties, role)
    name = _text(who, "Nm") or _text(who, "Pty", "Nm")
    iban = _text(_child(parties, f"{role}Acct", "Id"), "IBAN")
    return name, iban


def _remittance(txs: list[ET.Element]) -> tuple[str, str]:
    structured, text = [], []
    for tx in txs:
        rmt = _child(tx, "RmtInf")
        structured += [_text(s, "CdtrRefInf", "Ref") for s in _children(rmt, "Strd")]
        text += [(u.text or "").strip() for u in _children(rmt, "Ustrd")]
    return " ".join(s for s in structured if s), " ".join(t for t in text if t)


def _entry_lines(
    entry: ET.Element, n_index: int, where: str
) -> tuple[bool, int, bool, list[CamtLine]]:
    """(credit, amount, booked, lines) of one entry."""
    credit = _text(entry, "CdtDbtInd") == "CRDT"
    amount = _amount(_child(entry, "Amt"), where)
    status = _code(_child(entry, "Sts"))
    reversal = _text(entry, "RvslInd").lower() in ("true", "1")
    booking = _date(_child(entry, "BookgDt"))
    entry_ref = _text(entry, "AcctSvcrRef")
    ntry_ref = _text(entry, "NtryRef")
    txs = [tx for d in _children(entry, "NtryDtls") for tx in _children(d, "TxDtls")]
    tx_amounts = [_tx_amount(tx, f"{where}, transaction {i}") for i, tx in enumerate(txs, 1)]
    split = len(txs) > 1 and all(a is not None for a in tx_amounts)
    if split and sum(a or 0 for a in tx_amounts) != amount:
        raise CamtError(
            f"{where}: its {len(txs)} transactions add up to "
            f"{format_eur(sum(a or 0 for a in tx_amounts))} €, the entry says "
            f"{format_eur(amount)} €. The statement does not add up: nothing was imported."
        )
    # A batch without per-transaction amounts stays one line (its texts joined): an operator
    # splits it from the suspense list rather than Solde guessing the shares.
    groups: list[tuple[int, list[ET.Element], int]] = (
        [(i, [tx], a or 0) for i, (tx, a) in enumerate(zip(txs, tx_amounts, strict=True), 1)]
        if split
        else [(1, txs, amount)]
    )
    lines = []
    for t_index, group, cents in groups:
        tx = group[0] if group else None
        refs = _child(tx, "Refs")
        parties = _child(tx, "RltdPties")
        # The other party: who paid us (a credit), who we paid back (a debit, a return).
        name, iban = _party(parties, "Dbtr" if credit else "Cdtr")
        if not (name or iban):
            name, iban = _party(parties, "Cdtr" if credit else "Dbtr")
        rtr = _child(tx, "RtrInf")
        structured, text = _remittance(group)
        lines.append(
            CamtLine(
                entry_index=n_index,
                tx_index=t_index,
                amount_cents=cents,
                credit=credit,
                booked=status == "BOOK",
                status=status,
                reversal=reversal,
                booking_date=booking,
                acct_svcr_ref=_text(refs, "AcctSvcrRef") or entry_ref,
                ntry_ref=ntry_ref,
                end_to_end_id=_text(refs, "EndToEndId"),
                return_reason=_text(rtr, "Rsn", "Cd") or _text(rtr, "Rsn", "Prtry"),
                counterparty_name=name,
                counterparty_iban=iban,
                structured=structured,
                text=text,
            )
        )
    return credit, amount, status == "BOOK", lines


def _balances(stmt: ET.Element, where: str) -> tuple[int | None, int | None]:
    found: dict[str, int] = {}
    for bal in _children(stmt, "Bal"):
        code = _text(bal, "Tp", "CdOrPrtry", "Cd")
        if code in (*OPENING_CODES, CLOSING_CODE) and code not in found:
            found[code] = _signed(bal, _child(bal, "Amt"), f"{where}, balance {code}")
    opening = found.get("OPBD", found.get("PRCD"))
    return opening, found.get(CLOSING_CODE)


def _check_summary(stmt: ET.Element, entries: list[tuple[bool, int]], where: str) -> None:
    """The entries against the bank's own totals (TxsSummry), when it gives them."""
    summary = _child(stmt, "TxsSummry")
    if summary is None:
        return
    credits = [a for credit, a in entries if credit]
    debits = [a for credit, a in entries if not credit]
    signed = [a if credit else -a for credit, a in entries]
    checks: list[tuple[str, str, int, bool]] = []  # (what, bank's text, ours, is amount)
    total = _child(summary, "TtlNtries")
    if _text(total, "NbOfNtries"):
        checks.append(("number of entries", _text(total, "NbOfNtries"), len(signed), False))
    if _text(total, "Sum"):
        checks.append(("sum of entries", _text(total, "Sum"), sum(abs(s) for s in signed), True))
    net_el = _child(total, "TtlNetNtry")  # v08: Amt + CdtDbtInd; v02: TtlNetNtryAmt
    net_text = _text(net_el, "Amt") if net_el is not None else _text(total, "TtlNetNtryAmt")
    if net_text:
        ind = _text(net_el if net_el is not None else total, "CdtDbtInd")
        net = _cents(net_text, f"{where}, TxsSummry")
        checks.append(
            ("net of entries", format_eur(-net if ind == "DBIT" else net), sum(signed), True)
        )
    for name, what, side in (
        ("TtlCdtNtries", "credit", credits),
        ("TtlDbtNtries", "debit", debits),
    ):
        el = _child(summary, name)
        if _text(el, "NbOfNtries"):
            checks.append((f"number of {what} entries", _text(el, "NbOfNtries"), len(side), False))
        if _text(el, "Sum"):
            checks.append((f"sum of {what} entries", _text(el, "Sum"), sum(side), True))
    for what, theirs, ours, is_amount in checks:
        value = _cents(theirs, f"{where}, TxsSummry") if is_amount else int(theirs)
        if value != ours:
            shown = f"{format_eur(value)} €" if is_amount else str(value)
            mine = f"{format_eur(ours)} €" if is_amount else str(ours)
            raise CamtError(
                f"{where}: the statement's summary (TxsSummry) gives a {what} of {shown}, "
                f"its entries make {mine}. The statement does not add up: nothing was imported."
            )


def parse(data: bytes) -> list[CamtStatement]:
    """Every statement in a CAMT.053 document, validated and checked. Raises CamtError."""
    if not data.strip():
        raise CamtError("The file is empty.")
    _check_safe_and_well_formed(data)
    root = ET.fromstring(data)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    version = ns.removeprefix("urn:iso:std:iso:20022:tech:xsd:")
    if _local(root.tag) != "Document" or not ns.startswith(NS_PREFIX):
        raise CamtError(
            "This is not a CAMT.053 statement (expected a Document in the "
            f"'{NS_PREFIX}…' namespace, found '{ns or 'none'}')."
        )
    if version not in VERSIONS:
        raise CamtError(
            f"This statement is in {version}; Solde reads {' and '.join(VERSIONS)}. "
            "Ask the bank for one of these versions."
        )
    _validate(root, version)
    report = _child(root, "BkToCstmrStmt")
    statements = []
    for s_index, stmt in enumerate(_children(report, "Stmt"), 1):
        acct = _child(stmt, "Acct", "Id")
        out = CamtStatement(
            version=version,
            statement_id=_text(stmt, "Id"),
            electronic_seq=_text(stmt, "ElctrncSeqNb"),
            legal_seq=_text(stmt, "LglSeqNb"),
            iban=_text(acct, "IBAN") or _text(acct, "Othr", "Id"),
            created_on=_text(stmt, "CreDtTm"),
            copy_indicator=_text(stmt, "CpyDplctInd"),
        )
        where = f"Statement {out.statement_id or s_index}"
        out.opening_cents, out.closing_cents = _balances(stmt, where)
        entries: list[tuple[bool, int]] = []
        booked_net = 0
        for n_index, entry in enumerate(_children(stmt, "Ntry"), 1):
            credit, cents, booked, lines = _entry_lines(entry, n_index, f"{where}, entry {n_index}")
            entries.append((credit, cents))
            booked_net += (cents if credit else -cents) if booked else 0
            out.lines += lines
        out.entries = len(entries)
        _check_summary(stmt, entries, where)
        if out.opening_cents is None or out.closing_cents is None:
            raise CamtError(
                f"{where} gives no opening (OPBD or PRCD) or no closing (CLBD) booked balance: "
                "it cannot be checked, so it is not imported."
            )
        if out.opening_cents + booked_net != out.closing_cents:
            raise CamtError(
                f"{where} does not add up: opening balance {format_eur(out.opening_cents)} € "
                f"+ booked entries {format_eur(booked_net)} € = "
                f"{format_eur(out.opening_cents + booked_net)} €, but the closing balance is "
                f"{format_eur(out.closing_cents)} €. Nothing was imported."
            )
        statements.append(out)
    return statements
