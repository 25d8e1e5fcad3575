"""Reading ISO 20022 CAMT.053 bank-to-customer statements (any camt.053.001.xx version).

The standard library's XML parser, made safe first: a document type declaration (the door to
entity expansion and external entities) is refused before ElementTree sees the file. A file
that is not well-formed, truncated or not a CAMT.053 raises CamtError and nothing is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from xml.parsers import expat

from solde.money import InvalidAmount, parse_eur

NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053."


class CamtError(ValueError):
    """The file cannot be read as a CAMT.053 statement; the message says where and why."""


@dataclass
class CamtLine:
    key: str  # the bank's entry reference (+ transaction index when an entry has several)
    amount_cents: int
    credit: bool
    booked: bool
    booking_date: date | None
    debtor_name: str = ""
    debtor_iban: str = ""
    structured: str = ""  # Strd/CdtrRefInf/Ref: where Belgian banks put the OGM
    text: str = ""  # Ustrd, joined


@dataclass
class CamtStatement:
    statement_id: str
    iban: str
    created_on: str
    lines: list[CamtLine] = field(default_factory=list)


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


def _amount(el: ET.Element | None, where: str) -> int:
    if el is None:
        raise CamtError(f"{where}: the amount (Amt) is missing.")
    ccy = el.get("Ccy", "")
    if ccy != "EUR":
        raise CamtError(f"{where}: amount in {ccy or 'no currency'}; only EUR is handled.")
    try:
        cents = parse_eur(el.text or "")
    except InvalidAmount as exc:
        raise CamtError(f"{where}: '{el.text}' is not an amount.") from exc
    if cents < 0:
        raise CamtError(f"{where}: a negative amount; the direction is in CdtDbtInd.")
    return cents


def _date(el: ET.Element | None) -> date | None:
    text = _text(el, "Dt") or _text(el, "DtTm")[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as exc:
        raise CamtError(f"'{text}' is not a date.") from exc


def parse(data: bytes) -> list[CamtStatement]:
    """Every statement in a CAMT.053 document. Raises CamtError."""
    if not data.strip():
        raise CamtError("The file is empty.")
    _check_safe_and_well_formed(data)
    root = ET.fromstring(data)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if _local(root.tag) != "Document" or not ns.startswith(NS_PREFIX):
        raise CamtError(
            "This is not a CAMT.053 statement (expected a Document in the "
            f"'{NS_PREFIX}…' namespace, found '{ns or 'none'}')."
        )
    report = _child(root, "BkToCstmrStmt")
    if report is None:
        raise CamtError("No BkToCstmrStmt element: not a bank-to-customer statement.")
    statements = []
    for s_index, stmt in enumerate(_children(report, "Stmt"), 1):
        sid = _text(stmt, "Id")
        if not sid:
            raise CamtError(f"Statement {s_index} has no Id.")
        acct = _child(stmt, "Acct", "Id")
        iban = _text(acct, "IBAN") or _text(acct, "Othr", "Id")
        out = CamtStatement(sid, iban, _text(stmt, "CreDtTm"))
        for n_index, entry in enumerate(_children(stmt, "Ntry"), 1):
            where = f"Statement {sid}, entry {n_index}"
            ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
            if not ref:
                raise CamtError(f"{where}: no bank reference (AcctSvcrRef); cannot import once.")
            ind = _text(entry, "CdtDbtInd")
            if ind not in ("CRDT", "DBIT"):
                raise CamtError(f"{where}: CdtDbtInd must be CRDT or DBIT, not '{ind}'.")
            status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
            reversal = _text(entry, "RvslInd").lower() == "true"
            booked = status == "BOOK" and not reversal
            entry_amount = _amount(_child(entry, "Amt"), where)
            booking = _date(_child(entry, "BookgDt"))
            details: list[ET.Element | None] = [
                tx for d in _children(entry, "NtryDtls") for tx in _children(d, "TxDtls")
            ]
            txs = details or [None]
            for t_index, tx in enumerate(txs, 1):
                amount = entry_amount
                if tx is not None and _child(tx, "Amt") is not None and len(txs) > 1:
                    amount = _amount(_child(tx, "Amt"), f"{where}, transaction {t_index}")
                rmt = _child(tx, "RmtInf") if tx is not None else None
                structured = " ".join(
                    _text(s, "CdtrRefInf", "Ref") for s in _children(rmt, "Strd")
                ).strip()
                text = " ".join((u.text or "").strip() for u in _children(rmt, "Ustrd")).strip()
                parties = _child(tx, "RltdPties") if tx is not None else None
                debtor = _child(parties, "Dbtr")
                out.lines.append(
                    CamtLine(
                        key=ref if len(txs) == 1 else f"{ref}/{t_index}",
                        amount_cents=amount,
                        credit=ind == "CRDT",
                        booked=booked,
                        booking_date=booking,
                        debtor_name=_text(debtor, "Nm") or _text(debtor, "Pty", "Nm"),
                        debtor_iban=_text(_child(parties, "DbtrAcct", "Id"), "IBAN"),
                        structured=structured,
                        text=text,
                    )
                )
        statements.append(out)
    if not statements:
        raise CamtError("The file holds no statement (Stmt).")
    return statements
