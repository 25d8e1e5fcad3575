"""Settlement with suppliers (RULES.md §8). Each public service is one transaction.

Money: a top-up puts cents on `collections:<channel>` (negative = held for someone). Issuing a
statement moves each channel's total to `supplier_payable:<code>`; marking it paid moves that
to `cash:suppliers`. A reversal after an issued statement is a negative line in the next one.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from xml.etree import ElementTree as ET

from django.db import transaction

from solde import clock
from solde.ledger.models import AccountKind, TransactionKind
from solde.ledger.services import Posting, collections_account, post_many
from solde.ledger.services import account as ledger_account
from solde.money import format_eur
from solde.registry.models import Supplier
from solde.settlement.models import LineKind, Statement, StatementLine, StatementStatus
from solde.spreadsheet import text_cell
from solde.topups.models import Topup, TopupReversal

PERIODS = ("day", "week", "month")
XML_NS = "urn:solde:settlement:1"


class SettlementError(ValueError):
    pass


def period_start(period: str, until: date) -> date:
    if period == "day":
        return until
    if period == "week":
        return until - timedelta(days=6)
    if period == "month":
        return until.replace(day=1)
    raise SettlementError(f"The period is one of {', '.join(PERIODS)}, not '{period}'.")


@dataclass
class SettleReport:
    statements: list[Statement]
    new_lines: int
    without_supplier: int


@transaction.atomic
def settle(period: str, until: date, issue: bool = False, by: str = "") -> SettleReport:
    """Make (or complete) one draft statement per supplier with every top-up and reversal up
    to `until` (local date, inclusive) not yet in a statement. `issue=True` issues them."""
    start = period_start(period, until)
    topups = list(
        Topup.objects.filter(day__lte=until, supplier__isnull=False)
        .exclude(pk__in=StatementLine.objects.filter(kind="topup").values("topup_id"))
        .select_related("supply_point")
        .order_by("credited_at", "pk")
    )
    reversals = list(
        TopupReversal.objects.filter(day__lte=until, topup__supplier__isnull=False)
        .exclude(pk__in=StatementLine.objects.filter(reversal__isnull=False).values("reversal"))
        .select_related("topup__supply_point")
        .order_by("created_at", "pk")
    )
    without = Topup.objects.filter(day__lte=until, supplier__isnull=True).count()
    by_supplier: dict[int, list[StatementLine]] = defaultdict(list)
    for t in topups:
        assert t.supplier_id is not None  # the query keeps supplier-less top-ups out
        by_supplier[t.supplier_id].append(
            StatementLine(
                kind=LineKind.TOPUP,
                topup=t,
                ean=t.supply_point.ean,
                day=t.day,
                channel=t.channel,
                amount_cents=t.amount_cents,
                reference=t.external_id[:120],
            )
        )
    for r in reversals:
        t = r.topup
        assert t.supplier_id is not None  # the query keeps supplier-less top-ups out
        by_supplier[t.supplier_id].append(
            StatementLine(
                kind=LineKind.REVERSAL,
                topup=t,
                reversal=r,
                ean=t.supply_point.ean,
                day=r.day,
                channel=t.channel,
                amount_cents=-r.amount_cents,
                reference=f"{r.reason} {t.external_id}"[:120],
            )
        )
    now = clock.now()
    touched = []
    for supplier_id, lines in sorted(by_supplier.items()):
        stmt = (
            Statement.objects.select_for_update()
            .filter(supplier_id=supplier_id, status=StatementStatus.DRAFT)
            .order_by("-period_end")
            .first()
        )
        if stmt is None:
            stmt = Statement.objects.create(
                supplier_id=supplier_id,
                period=period,
                period_start=start,
                period_end=until,
                created_at=now,
            )
        else:
            stmt.period, stmt.period_start = period, min(stmt.period_start, start)
            stmt.period_end = max(stmt.period_end, until)
        for line in lines:
            line.statement = stmt
        StatementLine.objects.bulk_create(lines)
        _recompute(stmt)
        touched.append(stmt)
    if issue:
        drafts = Statement.objects.filter(status=StatementStatus.DRAFT, period_end__lte=until)
        touched = [issue_statement(s, by=by) for s in drafts]
    return SettleReport(touched, len(topups) + len(reversals), without)


def _recompute(stmt: Statement) -> None:
    totals: dict[str, int] = defaultdict(int)
    for channel, cents in stmt.lines.values_list("channel", "amount_cents"):
        totals[channel] += cents
    stmt.totals = dict(sorted(totals.items()))
    stmt.total_cents = sum(totals.values())
    stmt.save()


@transaction.atomic
def issue_statement(stmt: Statement, by: str = "") -> Statement:
    """Freeze a draft and move its money from collections to the supplier payable."""
    stmt = Statement.objects.select_for_update().select_related("supplier").get(pk=stmt.pk)
    if stmt.status != StatementStatus.DRAFT:
        return stmt
    _recompute(stmt)
    payable = ledger_account(f"supplier_payable:{stmt.supplier.code}", AccountKind.SUPPLIER_PAYABLE)
    entries = [(collections_account(ch).pk, cents) for ch, cents in stmt.totals.items() if cents]
    if entries:
        entries.append((payable.pk, -stmt.total_cents))
        post_many(
            [
                Posting(
                    key=f"settlement:issue:{stmt.pk}",
                    kind=TransactionKind.SETTLEMENT,
                    entries=entries,
                    reference=f"statement {stmt.pk} issued",
                    details={"statement": stmt.pk, "supplier": stmt.supplier.code},
                )
            ]
        )
    stmt.status = StatementStatus.ISSUED
    stmt.issued_at = clock.now()
    stmt.issued_by = by
    stmt.number = f"{stmt.supplier.code}-{stmt.period_end:%Y%m%d}-{stmt.pk}"
    stmt.save()
    return stmt


@transaction.atomic
def mark_paid(stmt: Statement, by: str = "") -> Statement:
    """The supplier was paid: its payable goes to cash paid out."""
    stmt = Statement.objects.select_for_update().select_related("supplier").get(pk=stmt.pk)
    if stmt.status == StatementStatus.PAID:
        return stmt
    if stmt.status != StatementStatus.ISSUED:
        raise SettlementError("Issue the statement before marking it paid.")
    if stmt.total_cents:
        payable = ledger_account(
            f"supplier_payable:{stmt.supplier.code}", AccountKind.SUPPLIER_PAYABLE
        )
        cash = ledger_account("cash:suppliers", AccountKind.CASH)
        post_many(
            [
                Posting(
                    key=f"settlement:paid:{stmt.pk}",
                    kind=TransactionKind.SETTLEMENT,
                    entries=[(payable.pk, stmt.total_cents), (cash.pk, -stmt.total_cents)],
                    reference=f"statement {stmt.number} paid",
                    details={"statement": stmt.pk, "by": by},
                )
            ]
        )
    stmt.status = StatementStatus.PAID
    stmt.paid_at = clock.now()
    stmt.paid_by = by
    stmt.save()
    return stmt


CSV_COLUMNS = [
    "statement",
    "supplier",
    "line",
    "kind",
    "ean",
    "date",
    "channel",
    "amount_eur",
    "reference",
    "topup_id",
]


def export_csv(stmt: Statement) -> str:
    """One row per line, then one `total` row per channel and a `total` row for the whole."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    name = stmt.number or f"draft-{stmt.pk}"
    for i, ln in enumerate(stmt.lines.order_by("day", "pk"), 1):
        w.writerow(
            [
                name,
                stmt.supplier.code,
                i,
                ln.kind,
                ln.ean,
                ln.day.isoformat(),
                ln.channel,
                format_eur(ln.amount_cents),
                text_cell(ln.reference),
                ln.topup_id,
            ]
        )
    for ch, cents in stmt.totals.items():
        w.writerow([name, stmt.supplier.code, "", "total", "", "", ch, format_eur(cents), "", ""])
    w.writerow(
        [name, stmt.supplier.code, "", "total", "", "", "", format_eur(stmt.total_cents), "", ""]
    )
    return out.getvalue()


def export_xml(stmt: Statement) -> bytes:
    """The statement as XML (schema: settlement.xsd, documented in docs/settlement.md)."""
    ET.register_namespace("", XML_NS)

    def q(tag: str) -> str:
        return f"{{{XML_NS}}}{tag}"

    root = ET.Element(
        q("Statement"),
        {"number": stmt.number or f"draft-{stmt.pk}", "status": stmt.status, "currency": "EUR"},
    )
    ET.SubElement(root, q("Supplier"), {"code": stmt.supplier.code, "name": stmt.supplier.name})
    ET.SubElement(
        root,
        q("Period"),
        {
            "kind": stmt.period,
            "from": stmt.period_start.isoformat(),
            "to": stmt.period_end.isoformat(),
        },
    )
    if stmt.issued_at:
        ET.SubElement(root, q("IssuedAt")).text = clock.local(stmt.issued_at).isoformat()
    lines = ET.SubElement(root, q("Lines"))
    for ln in stmt.lines.order_by("day", "pk"):
        el = ET.SubElement(lines, q("Line"), {"kind": ln.kind, "topupId": str(ln.topup_id)})
        ET.SubElement(el, q("Ean")).text = ln.ean
        ET.SubElement(el, q("Date")).text = ln.day.isoformat()
        ET.SubElement(el, q("Channel")).text = ln.channel
        ET.SubElement(el, q("Amount")).text = format_eur(ln.amount_cents)
        ET.SubElement(el, q("Reference")).text = ln.reference
    totals = ET.SubElement(root, q("Totals"))
    for ch, cents in stmt.totals.items():
        ET.SubElement(totals, q("ChannelTotal"), {"channel": ch}).text = format_eur(cents)
    ET.SubElement(totals, q("Total")).text = format_eur(stmt.total_cents)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def supplier_by_code(code: str) -> Supplier:
    sup = Supplier.objects.filter(code=code).first()
    if sup is None:
        raise SettlementError(f"No supplier has the code '{code}'.")
    return sup
