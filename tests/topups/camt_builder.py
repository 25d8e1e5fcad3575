"""Build CAMT.053 statements (camt.053.001.02 or .08) that pass the official XSD, for tests.

Balances are computed from the booked entries unless a test gives them (to make a statement
that does not add up). All data is made up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from solde.money import format_eur, parse_eur

ACCOUNT = "BE68539007547034"


@dataclass
class Entry:
    amount: str
    ind: str = "CRDT"
    ref: str | None = None  # entry AcctSvcrRef
    ntry_ref: str | None = None
    ogm: str = ""
    text: str = ""
    party: str = "Jean Martin"
    party_iban: str = "BE71096123456769"
    status: str = "BOOK"
    e2e: str = ""
    reason: str = ""  # RtrInf/Rsn/Cd: a returned payment
    rvsl: bool = False
    booked_on: str = "2026-11-27"
    txs: list[tuple[str, str]] = field(default_factory=list)  # a batch: (amount, ogm) each

    @property
    def signed_cents(self) -> int:
        cents = parse_eur(self.amount)
        return cents if self.ind == "CRDT" else -cents


def _rmt(ogm: str, text: str) -> str:
    ustrd = f"<Ustrd>{escape(text)}</Ustrd>" if text else ""
    strd = (
        "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>BBA</Issr></Tp>"
        f"<Ref>{escape(ogm)}</Ref></CdtrRefInf></Strd>"
        if ogm
        else ""
    )
    return f"<RmtInf>{ustrd}{strd}</RmtInf>" if (ustrd or strd) else ""


def _party(role: str, name: str, v08: bool) -> str:
    nm = f"<Nm>{escape(name)}</Nm>"
    return f"<{role}><Pty>{nm}</Pty></{role}>" if v08 else f"<{role}>{nm}</{role}>"


def _tx(e: Entry, v08: bool, amount: str | None = None, ogm: str | None = None) -> str:
    refs = ""
    if e.ref or e.e2e:
        refs = "<Refs>"
        refs += f"<AcctSvcrRef>{escape(e.ref)}</AcctSvcrRef>" if e.ref else ""
        refs += f"<EndToEndId>{escape(e.e2e)}</EndToEndId>" if e.e2e else ""
        refs += "</Refs>"
    amt = ""
    if amount is not None:
        amt = (
            f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{e.ind}</CdtDbtInd>'
            if v08
            else f'<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>'
        )
    role = "Dbtr" if e.ind == "CRDT" else "Cdtr"
    parties = ""
    if e.party or e.party_iban:
        parties = "<RltdPties>"
        parties += _party(role, e.party, v08) if e.party else ""
        parties += (
            f"<{role}Acct><Id><IBAN>{e.party_iban}</IBAN></Id></{role}Acct>" if e.party_iban else ""
        )
        parties += "</RltdPties>"
    rtr = f"<RtrInf><Rsn><Cd>{e.reason}</Cd></Rsn></RtrInf>" if e.reason else ""
    return (
        f"<TxDtls>{refs}{amt}{parties}{_rmt(e.ogm if ogm is None else ogm, e.text)}{rtr}</TxDtls>"
    )


def _entry(e: Entry, v08: bool) -> str:
    sts = f"<Sts><Cd>{e.status}</Cd></Sts>" if v08 else f"<Sts>{e.status}</Sts>"
    family = ("ICDT", "RRTN") if e.reason else ("RCDT", "ESCT")
    if e.ind == "DBIT" and not e.reason:
        family = ("ICDT", "ESCT")
    details = "".join(_tx(e, v08, a, o) for a, o in e.txs) if e.txs else _tx(e, v08)
    return (
        "<Ntry>"
        + (f"<NtryRef>{escape(e.ntry_ref)}</NtryRef>" if e.ntry_ref else "")
        + f'<Amt Ccy="EUR">{e.amount}</Amt><CdtDbtInd>{e.ind}</CdtDbtInd>'
        + ("<RvslInd>true</RvslInd>" if e.rvsl else "")
        + sts
        + f"<BookgDt><Dt>{e.booked_on}</Dt></BookgDt><ValDt><Dt>{e.booked_on}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{escape(e.ref)}</AcctSvcrRef>" if e.ref else "")
        + f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family[0]}</Cd>"
        + f"<SubFmlyCd>{family[1]}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        + f"<NtryDtls>{details}</NtryDtls></Ntry>"
    )


def _bal(code: str, cents: int, on: str) -> str:
    ind = "CRDT" if cents >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="EUR">{format_eur(abs(cents))}</Amt><CdtDbtInd>{ind}</CdtDbtInd>'
        f"<Dt><Dt>{on}</Dt></Dt></Bal>"
    )


def _summary(entries: list[Entry], v08: bool, sum_delta: int = 0) -> str:
    signed = [e.signed_cents for e in entries]
    net = sum(signed)
    credits = [s for s in signed if s > 0]
    debits = [-s for s in signed if s < 0]
    ind = "CRDT" if net >= 0 else "DBIT"
    total = sum(abs(s) for s in signed) + sum_delta
    head = f"<NbOfNtries>{len(signed)}</NbOfNtries><Sum>{format_eur(total)}</Sum>"
    if v08:
        net_xml = f"<Amt>{format_eur(abs(net))}</Amt><CdtDbtInd>{ind}</CdtDbtInd>"
        head += f"<TtlNetNtry>{net_xml}</TtlNetNtry>"
    else:
        head += f"<TtlNetNtryAmt>{format_eur(abs(net))}</TtlNetNtryAmt>"
        head += f"<CdtDbtInd>{ind}</CdtDbtInd>"
    return (
        f"<TxsSummry><TtlNtries>{head}</TtlNtries>"
        f"<TtlCdtNtries><NbOfNtries>{len(credits)}</NbOfNtries><Sum>{format_eur(sum(credits))}</Sum></TtlCdtNtries>"
        f"<TtlDbtNtries><NbOfNtries>{len(debits)}</NbOfNtries><Sum>{format_eur(sum(debits))}</Sum></TtlDbtNtries>"
        "</TxsSummry>"
    )


def stmt_xml(
    *entries: Entry,
    sid: str = "STMT-2026-331",
    seq: str | None = "331",
    iban: str = ACCOUNT,
    opening_cents: int = 100_000,
    closing_cents: int | None = None,
    summary: bool = False,
    summary_sum_delta: int = 0,
    v08: bool = False,
) -> str:
    booked = sum(e.signed_cents for e in entries if e.status == "BOOK")
    closing = opening_cents + booked if closing_cents is None else closing_cents
    return (
        f"<Stmt><Id>{escape(sid)}</Id>"
        + (f"<ElctrncSeqNb>{seq}</ElctrncSeqNb>" if seq else "")
        + "<CreDtTm>2026-11-28T06:00:00</CreDtTm>"
        + f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        + _bal("OPBD", opening_cents, "2026-11-27")
        + _bal("CLBD", closing, "2026-11-27")
        + (_summary(list(entries), v08, summary_sum_delta) if summary else "")
        + "".join(_entry(e, v08) for e in entries)
        + "</Stmt>"
    )


def document(*stmts: str, v08: bool = False, version: str | None = None) -> bytes:
    version = version or ("camt.053.001.08" if v08 else "camt.053.001.02")
    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>MSG-2026-11-28</MsgId><CreDtTm>2026-11-28T06:00:00</CreDtTm></GrpHdr>"
        + "".join(stmts)
        + "</BkToCstmrStmt></Document>"
    ).encode()


def statement(*entries: Entry, v08: bool = False, **kw) -> bytes:
    """One statement in one file."""
    return document(stmt_xml(*entries, v08=v08, **kw), v08=v08)


def credit(ref: str | None, amount: str, **kw) -> Entry:
    return Entry(amount, ref=ref, **kw)
