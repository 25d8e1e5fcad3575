"""Bank transfers: importing CAMT.053 statements, matching lines, the suspense list.

Matching order for each credit line: the structured communication (OGM) of a supply point;
else a customer reference or EAN written in the free text (exactly one supply point); else the
suspense list. An OGM-shaped text with a wrong check digit goes to suspense: never guess.
Money received is never refused: a line for a closed or pending account goes to suspense too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from solde import clock
from solde.ledger.models import AccountKind, TransactionKind
from solde.ledger.services import Posting, collections_account, post_many
from solde.ledger.services import account as ledger_account
from solde.prepayment.models import AccountState, PrepaymentAccount
from solde.registry.models import SupplyPoint
from solde.topups import camt, rules, services
from solde.topups.models import BankLine, BankStatement, Channel, SuspenseItem, SuspenseStatus


@dataclass
class ImportReport:
    statements: int = 0
    new_lines: int = 0
    already_imported: int = 0
    credited: int = 0
    credited_cents: int = 0
    suspense: int = 0
    suspense_cents: int = 0
    ignored: int = 0  # debits and entries not booked
    suspense_reasons: list[str] = field(default_factory=list)


def suspense_account():
    return ledger_account("suspense:transfer", AccountKind.SUSPENSE)


def _match(line: camt.CamtLine, by_ogm: dict, by_ref: dict) -> tuple[int | None, str]:
    """(supply point id, '') or (None, why it goes to suspense)."""
    for text in (line.structured, line.text):
        ogm, looked_like = rules.find_structured_communication(text)
        if ogm:
            sp = by_ogm.get(ogm)
            if sp is None:
                return None, f"Structured communication {ogm} belongs to no supply point."
            return sp, ""
        if looked_like:
            return None, "A structured communication with a wrong check digit."
    found = {by_ref.get(k) for k in rules.find_references(f"{line.structured} {line.text}")}
    found.discard(None)
    if len(found) == 1:
        return found.pop(), ""
    if len(found) > 1:
        return None, "The text names several supply points."
    return None, "No structured communication, customer reference or EAN found."


@transaction.atomic
def import_statement(data: bytes, filename: str = "") -> ImportReport:
    """Import a CAMT.053 file: credit matched lines, put the rest in suspense. Importing the
    same statement again changes nothing (each line is keyed on the bank's reference).
    Raises camt.CamtError before writing anything when the file cannot be read."""
    statements = camt.parse(data)
    report = ImportReport()
    now = clock.now()
    all_lines = [(s, ln) for s in statements for ln in s.lines]

    def key(s: camt.CamtStatement, ln: camt.CamtLine) -> str:
        return f"{s.iban}:{ln.key}"[:80]

    known = set(
        BankLine.objects.filter(key__in=[key(s, ln) for s, ln in all_lines]).values_list(
            "key", flat=True
        )
    )
    # Set-based lookups of every identifier the file mentions.
    ogms, refs = set(), set()
    for _, ln in all_lines:
        for text in (ln.structured, ln.text):
            ogm, _ = rules.find_structured_communication(text)
            if ogm:
                ogms.add(ogm)
        refs |= rules.find_references(f"{ln.structured} {ln.text}")
    by_ogm = dict(
        SupplyPoint.objects.filter(structured_communication__in=ogms).values_list(
            "structured_communication", "pk"
        )
    )
    by_ref = {
        ("customer_reference", r): pk
        for r, pk in SupplyPoint.objects.filter(
            customer_reference__in=[d for k, d in refs if k == "customer_reference"]
        ).values_list("customer_reference", "pk")
    }
    by_ref.update(
        {
            ("ean", e): pk
            for e, pk in SupplyPoint.objects.filter(
                ean__in=[d for k, d in refs if k == "ean"]
            ).values_list("ean", "pk")
        }
    )
    accounts = {
        a.supply_point_id: a
        for a in PrepaymentAccount.objects.filter(
            supply_point_id__in=set(by_ogm.values()) | set(by_ref.values())
        )
    }
    suspense_postings = []
    suspense_items = []
    for s in statements:
        stmt, _ = BankStatement.objects.get_or_create(
            statement_id=s.statement_id[:80],
            iban=s.iban[:40],
            defaults={"imported_at": now, "filename": filename[:255], "lines": len(s.lines)},
        )
        report.statements += 1
        for ln in s.lines:
            if not (ln.credit and ln.booked):
                report.ignored += 1
                continue
            k = key(s, ln)
            if k in known:
                report.already_imported += 1
                continue
            known.add(k)
            report.new_lines += 1
            line = BankLine.objects.create(
                key=k,
                statement=stmt,
                amount_cents=ln.amount_cents,
                booking_date=ln.booking_date,
                debtor_name=ln.debtor_name[:200],
                debtor_iban=ln.debtor_iban[:40],
                structured=ln.structured[:60],
                text=ln.text,
            )
            sp_id, why = _match(ln, by_ogm, by_ref)
            acc = accounts.get(sp_id) if sp_id else None
            if acc is not None and acc.state != AccountState.ACTIVE:
                acc, why = None, "The supply point's prepayment account is not active."
            if ln.amount_cents <= 0:
                acc, why = None, "A zero amount."
            if acc is not None:
                topup, _ = services.credit_topup(
                    acc,
                    ln.amount_cents,
                    channel=Channel.TRANSFER,
                    external_id=k,
                    payer=ln.debtor_name[:200],
                    details={"booking_date": str(ln.booking_date or ""), "iban": ln.debtor_iban},
                )
                line.topup = topup
                line.save(update_fields=["topup"])
                report.credited += 1
                report.credited_cents += ln.amount_cents
                continue
            suspense_postings.append(
                Posting(
                    key=f"suspense:{k}",
                    kind=TransactionKind.SUSPENSE,
                    entries=[
                        (collections_account(Channel.TRANSFER).pk, -ln.amount_cents),
                        (suspense_account().pk, ln.amount_cents),
                    ],
                    at=now,
                    reference=f"unmatched transfer {ln.key}"[:120],
                    details={"debtor": ln.debtor_name, "text": ln.text[:500]},
                )
            )
            suspense_items.append(
                SuspenseItem(line=line, amount_cents=ln.amount_cents, reason=why, created_at=now)
            )
            report.suspense += 1
            report.suspense_cents += ln.amount_cents
            report.suspense_reasons.append(f"{ln.key}: {why}")
    post_many(suspense_postings)
    SuspenseItem.objects.bulk_create(suspense_items)
    return report


@transaction.atomic
def match_suspense(item: SuspenseItem, reference: str, by: str = ""):
    """An operator gives the EAN (or customer reference) of an unmatched transfer: credit it."""
    item = SuspenseItem.objects.select_for_update().select_related("line").get(pk=item.pk)
    if item.status != SuspenseStatus.OPEN:
        raise services.Conflict("This transfer was already handled.")
    sp = services.find_supply_point(reference)
    account = services.open_account_for(sp)
    topup, _ = services.credit_topup(
        account,
        item.amount_cents,
        channel=Channel.TRANSFER,
        external_id=item.line.key,
        payer=item.line.debtor_name,
        counter_account_id=suspense_account().pk,
        details={"matched_by": by, "from_suspense": item.pk},
    )
    item.status = SuspenseStatus.MATCHED
    item.topup = topup
    item.resolved_by = by
    item.resolved_at = clock.now()
    item.save()
    BankLine.objects.filter(pk=item.line_id).update(topup=topup)
    return topup


@transaction.atomic
def return_suspense(item: SuspenseItem, by: str = "", note: str = "") -> None:
    """Mark an unmatched transfer for return to the payer: the money leaves the suspense."""
    item = SuspenseItem.objects.select_for_update().select_related("line").get(pk=item.pk)
    if item.status != SuspenseStatus.OPEN:
        raise services.Conflict("This transfer was already handled.")
    post_many(
        [
            Posting(
                key=f"suspense-return:{item.line.key}",
                kind=TransactionKind.REFUND,
                entries=[
                    (suspense_account().pk, -item.amount_cents),
                    (collections_account(Channel.TRANSFER).pk, item.amount_cents),
                ],
                reference=f"transfer returned to {item.line.debtor_name}"[:120],
                details={"by": by, "note": note, "iban": item.line.debtor_iban},
            )
        ]
    )
    item.status = SuspenseStatus.RETURNED
    item.resolved_by = by
    item.resolved_at = clock.now()
    item.note = note
    item.save()
