"""Bank transfers: importing CAMT.053 statements, matching lines, the suspense list.

A statement is identified by its account (IBAN), its id and its sequence number; a line by its
statement, its position and its references (hashed: never a key cut short). Every line ends in
exactly one outcome — credited, suspense, refused (with the reason) or duplicate (pointing at
the line it repeats) — and the four totals must equal the statement's own figures, or nothing
is written.

Credit lines are matched by the structured communication (OGM) of a supply point; else by a
customer reference or EAN written in the free text (exactly one supply point); else they go to
suspense. An OGM-shaped text with a wrong check digit goes to suspense: never guess. Money
received is never refused: a line for a closed or pending account goes to suspense too, and so
does a matched line above SOLDE_MAX_TOPUP_PER_LINE_CENTS (held for an operator's review).
Debit lines (returns, recalls, reversals: RvslInd, RtrInf/Rsn such as AC04 or MD06) take back the
transfer top-up they return — a `reversal` through the top-up services, so the balance, credit
control and the next supplier statement follow — or go to suspense when no top-up matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from solde import clock
from solde.ledger.models import AccountKind, TransactionKind
from solde.ledger.services import Posting, collections_account, post_many
from solde.ledger.services import account as ledger_account
from solde.money import format_eur
from solde.prepayment.models import AccountState, PrepaymentAccount
from solde.registry.models import SupplyPoint
from solde.topups import camt, rules, services
from solde.topups.models import (
    BankLine,
    BankStatement,
    Channel,
    LineOutcome,
    ReversalReason,
    SuspenseItem,
    SuspenseStatus,
    Topup,
)

OUTCOMES = tuple(LineOutcome.values)
BANK_IMPORT = "bank statement"


@dataclass
class Tally:
    count: int = 0
    cents: int = 0  # signed: debits are negative


@dataclass
class StatementReport:
    title: str
    version: str
    already_imported: bool = False
    entries: int = 0
    lines: int = 0
    opening_cents: int | None = None
    closing_cents: int | None = None
    totals: dict[str, Tally] = field(default_factory=lambda: {o: Tally() for o in OUTCOMES})
    notes: list[str] = field(default_factory=list)  # why each line not credited went where
    warnings: list[str] = field(default_factory=list)

    def add(self, outcome: str, cents: int, note: str = "") -> None:
        self.totals[outcome].count += 1
        self.totals[outcome].cents += cents
        if note:
            self.notes.append(note)


@dataclass
class ImportReport:
    statements: list[StatementReport] = field(default_factory=list)

    def total(self, outcome: str) -> Tally:
        """One outcome over the statements imported now (not those already imported)."""
        out = Tally()
        for s in self.statements:
            if not s.already_imported:
                out.count += s.totals[outcome].count
                out.cents += s.totals[outcome].cents
        return out

    @property
    def credited(self) -> int:
        return self.total(LineOutcome.CREDITED).count

    @property
    def credited_cents(self) -> int:
        return self.total(LineOutcome.CREDITED).cents

    @property
    def suspense(self) -> int:
        return self.total(LineOutcome.SUSPENSE).count

    @property
    def suspense_cents(self) -> int:
        return self.total(LineOutcome.SUSPENSE).cents

    @property
    def refused(self) -> int:
        return self.total(LineOutcome.REFUSED).count

    @property
    def duplicate(self) -> int:
        return self.total(LineOutcome.DUPLICATE).count

    @property
    def already_imported(self) -> int:
        return sum(1 for s in self.statements if s.already_imported)

    @property
    def new_lines(self) -> int:
        return sum(s.lines for s in self.statements if not s.already_imported)


HELD = "Held for review: above the limit of %s € per line"


def held_reason(ean: str) -> str:
    """Why a matched line waits: the operator releases it to this EAN after checking it."""
    return f"{HELD % format_eur(settings.MAX_TOPUP_PER_LINE_CENTS)}; matches EAN {ean}."


def above_line_limit(cents: int) -> bool:
    """A credit above the per-line limit is credited only by an operator's release."""
    return cents > settings.MAX_TOPUP_PER_LINE_CENTS


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


@dataclass
class _Lookups:
    """Set-based look-ups of every identifier the file mentions (no query per line)."""

    by_ogm: dict
    by_ref: dict
    accounts: dict
    eans: dict

    @classmethod
    def of(cls, lines: list[camt.CamtLine]) -> _Lookups:
        ogms, refs = set(), set()
        for ln in lines:
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
            ).select_related("supply_point")
        }
        eans = {sp_id: a.supply_point.ean for sp_id, a in accounts.items()}
        return cls(by_ogm, by_ref, accounts, eans)


def _returned_topup(
    s: camt.CamtStatement, ln: camt.CamtLine, look: _Lookups
) -> tuple[Topup | None, str]:
    """The transfer top-up a debit line takes back, or (None, why not)."""
    base = Topup.objects.filter(
        channel=Channel.TRANSFER,
        amount_cents=ln.amount_cents,
        reversed_cents=0,
        bank_line__statement__iban=s.iban,
    ).order_by("-credited_at", "-pk")
    if ln.end_to_end_id and ln.end_to_end_id.upper() != "NOTPROVIDED":
        found = base.filter(bank_line__end_to_end_id=ln.end_to_end_id).first()
        if found:
            return found, ""
    sp_id, why = _match(ln, look.by_ogm, look.by_ref)
    if sp_id is None:
        return None, f"A debit that takes back no known top-up. {why}"
    candidates = base.filter(supply_point_id=sp_id)
    if ln.counterparty_iban:
        candidates = candidates.filter(
            Q(bank_line__debtor_iban=ln.counterparty_iban) | Q(bank_line__debtor_iban="")
        )
    found = candidates.first()
    if found is None:
        return None, "A debit naming a supply point with no transfer top-up of this amount."
    return found, ""


def _created_on(text: str):
    dt = parse_datetime(text) if text else None
    if dt is not None and timezone.is_naive(dt):
        dt = timezone.make_aware(dt, ZoneInfo("Europe/Brussels"))
    return dt


def _continuity(s: camt.CamtStatement, report: StatementReport) -> None:
    """Warn (not refuse) when the statement does not follow the last one of its account."""
    prev = BankStatement.objects.filter(iban=s.iban[:40]).order_by("-imported_at", "-pk").first()
    if prev is None:
        return
    if prev.closing_cents is not None and prev.closing_cents != s.opening_cents:
        report.warnings.append(
            f"Opening balance {format_eur(s.opening_cents or 0)} € differs from the closing "
            f"balance {format_eur(prev.closing_cents)} € of the last statement imported for "
            f"this account ({prev}): a statement may be missing."
        )
    if (
        prev.sequence.isdigit()
        and s.sequence.isdigit()
        and int(s.sequence) != int(prev.sequence) + 1
    ):
        report.warnings.append(
            f"Sequence {s.sequence} does not follow {prev.sequence} (the last statement imported "
            "for this account): a statement may be missing or out of order."
        )


def _import_one(s: camt.CamtStatement, filename: str, now, look: _Lookups) -> StatementReport:
    report = StatementReport(
        s.title,
        s.version,
        entries=s.entries,
        lines=len(s.lines),
        opening_cents=s.opening_cents,
        closing_cents=s.closing_cents,
    )
    _continuity(s, report)
    stmt = BankStatement.objects.create(
        statement_id=s.statement_id[:80],
        iban=s.iban[:40],
        sequence=s.sequence[:20],
        version=s.version,
        created_on=_created_on(s.created_on),
        filename=filename[:255],
        imported_at=now,
        lines=len(s.lines),
        opening_cents=s.opening_cents,
        closing_cents=s.closing_cents,
        fingerprint=s.fingerprint(),
    )
    # A line another statement of this account already reported (same bank reference,
    # direction, amount and booking date): a copy, not new money.
    refs = {ln.acct_svcr_ref for ln in s.lines if ln.acct_svcr_ref}
    earlier: dict[tuple, BankLine] = {}
    for old in (
        BankLine.objects.filter(statement__iban=stmt.iban, acct_svcr_ref__in=refs)
        .exclude(statement=stmt)
        .order_by("-pk")
    ):
        earlier[(old.acct_svcr_ref, old.credit, old.amount_cents, old.booking_date)] = old
    postings: list[Posting] = []
    items: list[SuspenseItem] = []
    for ln in s.lines:
        key = s.line_key(ln)
        line = BankLine(
            key=key,
            statement=stmt,
            entry_index=ln.entry_index,
            tx_index=ln.tx_index,
            credit=ln.credit,
            amount_cents=ln.amount_cents,
            booking_date=ln.booking_date,
            debtor_name=ln.counterparty_name[:200],
            debtor_iban=ln.counterparty_iban[:40],
            structured=ln.structured[:60],
            text=ln.text,
            acct_svcr_ref=ln.acct_svcr_ref[:35],
            ntry_ref=ln.ntry_ref[:35],
            end_to_end_id=ln.end_to_end_id[:35],
            return_reason=ln.return_reason[:35],
            outcome=LineOutcome.SUSPENSE,  # unless credited, refused or a duplicate below
        )
        original = earlier.get((ln.acct_svcr_ref, ln.credit, ln.amount_cents, ln.booking_date))
        why = ""
        if not ln.booked:
            line.outcome = LineOutcome.REFUSED
            why = (
                f"Not booked (status {ln.status or 'none'}): not money yet; the bank reports "
                "it again once booked."
            )
        elif original is not None:
            line.outcome = LineOutcome.DUPLICATE
            line.duplicate_of_id = original.duplicate_of_id or original.pk
            why = (
                f"Already reported by statement {original.statement} "
                f"(bank line {line.duplicate_of_id})."
            )
        elif ln.amount_cents == 0:
            line.outcome = LineOutcome.REFUSED
            why = "A zero amount: nothing to credit or take back."
        elif ln.credit:
            sp_id, why = _match(ln, look.by_ogm, look.by_ref)
            acc = look.accounts.get(sp_id) if sp_id else None
            if acc is not None and acc.state != AccountState.ACTIVE:
                acc, why = None, "The supply point's prepayment account is not active."
            if acc is not None and above_line_limit(ln.amount_cents):
                # Money received, not refused: it waits in suspense until an operator releases
                # it to the account it matched (match_suspense with this EAN).
                why = held_reason(look.eans.get(sp_id, ""))
                acc = None
            if acc is not None:
                topup, _ = services.credit_topup(
                    acc,
                    ln.amount_cents,
                    channel=Channel.TRANSFER,
                    external_id=key,
                    payer=ln.counterparty_name[:200],
                    details={
                        "booking_date": str(ln.booking_date or ""),
                        "iban": ln.counterparty_iban,
                        "statement": s.title,
                    },
                )
                line.topup = topup
                line.outcome = LineOutcome.CREDITED
        else:
            returned, why = _returned_topup(s, ln, look)
            if returned is not None:
                reason = ReversalReason.BANK_RETURN
                reversal, _ = services.reverse_topup(
                    returned, ln.amount_cents, reason, key=f"bank:{key}", by=BANK_IMPORT
                )
                line.reversal = reversal
                line.outcome = LineOutcome.CREDITED
        line.reason = why[:300] if line.outcome != LineOutcome.CREDITED else ""
        line.save()
        if line.outcome == LineOutcome.SUSPENSE:
            cents = ln.signed_cents
            postings.append(
                Posting(
                    key=f"suspense:{key}",
                    kind=TransactionKind.SUSPENSE,
                    entries=[
                        (collections_account(Channel.TRANSFER).pk, -cents),
                        (suspense_account().pk, cents),
                    ],
                    at=now,
                    reference=f"unmatched {'transfer' if ln.credit else 'debit'} {ln.label}"[:120],
                    details={"debtor": ln.counterparty_name, "text": ln.text[:500]},
                )
            )
            items.append(
                SuspenseItem(line=line, amount_cents=cents, reason=why[:200], created_at=now)
            )
        note = f"{line.outcome} {ln.label} {format_eur(ln.signed_cents)} €: {why}"
        report.add(
            line.outcome, ln.signed_cents, note if line.outcome != LineOutcome.CREDITED else ""
        )
    post_many(postings)
    SuspenseItem.objects.bulk_create(items)
    _check_totals(s, report)
    stmt.totals = {
        **{o: [t.count, t.cents] for o, t in report.totals.items()},
        "warnings": report.warnings,
    }
    stmt.save(update_fields=["totals"])
    return report


def _check_totals(s: camt.CamtStatement, report: StatementReport) -> None:
    """The four outcomes must account for the statement exactly: every line once, booked money
    = closing − opening, the rest refused. Raising here rolls the whole import back."""
    t = report.totals
    counted = sum(x.count for x in t.values())
    booked = t["credited"].cents + t["suspense"].cents + t["duplicate"].cents
    unbooked = sum(ln.signed_cents for ln in s.lines if not ln.booked)
    if (
        counted != len(s.lines)
        or booked != (s.closing_cents or 0) - (s.opening_cents or 0)
        or t["refused"].cents != unbooked
    ):
        raise camt.CamtError(
            f"Statement {s.title}: the outcomes of its lines ({counted} lines, "
            f"{format_eur(booked)} € booked) do not account for the statement "
            f"({len(s.lines)} lines, {format_eur(s.booked_net_cents)} € booked). "
            "Nothing was imported; report this file to the Solde team."
        )


def import_statement(data: bytes, filename: str = "") -> ImportReport:
    """Import a CAMT.053 file (camt.053.001.02 or .08): every line credited, put in suspense,
    refused or recognised as a duplicate. A statement already imported is a no-op.

    Raises camt.CamtError — and writes nothing — when the file cannot be read, fails the XSD,
    does not add up, or repeats an imported statement's identity with different content."""
    statements = camt.parse(data)
    try:
        with transaction.atomic():
            return _import(statements, filename)
    except IntegrityError as exc:
        # Two imports of one statement at once: the unique statement identity stops the second.
        if not BankStatement.objects.filter(
            iban__in=[s.iban[:40] for s in statements],
            statement_id__in=[s.statement_id[:80] for s in statements],
        ).exists():
            raise
        raise camt.CamtError(
            "This statement was being imported at the same moment by another run: nothing was "
            "imported by this one. Run it again to see its report."
        ) from exc


def _import(statements: list[camt.CamtStatement], filename: str) -> ImportReport:
    report = ImportReport()
    now = clock.now()
    look = _Lookups.of([ln for s in statements for ln in s.lines])
    for s in statements:
        existing = BankStatement.objects.filter(
            iban=s.iban[:40], statement_id=s.statement_id[:80], sequence=s.sequence[:20]
        ).first()
        if existing is None and s.sequence:
            # Imported before statements had a sequence: known by account and id only.
            existing = BankStatement.objects.filter(
                iban=s.iban[:40], statement_id=s.statement_id[:80], fingerprint=""
            ).first()
        if existing is not None:
            if existing.fingerprint and existing.fingerprint != s.fingerprint():
                raise camt.CamtError(
                    f"Statement {s.title} was already imported on "
                    f"{timezone.localtime(existing.imported_at):%Y-%m-%d %H:%M} with other "
                    "content. A bank correction comes as a new statement (new id or sequence): "
                    "nothing was imported."
                )
            done = StatementReport(
                s.title,
                s.version,
                already_imported=True,
                entries=s.entries,
                lines=len(s.lines),
                opening_cents=s.opening_cents,
                closing_cents=s.closing_cents,
            )
            for o in OUTCOMES:
                count, cents = (existing.totals or {}).get(o, [0, 0])
                done.totals[o] = Tally(count, cents)
            report.statements.append(done)
            continue
        report.statements.append(_import_one(s, filename, now, look))
    return report


@transaction.atomic
def match_suspense(item: SuspenseItem, reference: str, by: str = ""):
    """An operator gives the EAN (or customer reference) of an unmatched line. A transfer is
    credited to that account; a debit takes back that account's latest transfer top-up it
    covers (a reversal, in the next supplier statement)."""
    item = SuspenseItem.objects.select_for_update().select_related("line").get(pk=item.pk)
    if item.status != SuspenseStatus.OPEN:
        raise services.Conflict("This transfer was already handled.")
    sp = services.find_supply_point(reference)
    if item.amount_cents < 0:
        return _match_debit(item, sp, by)
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


def _match_debit(item: SuspenseItem, sp: SupplyPoint, by: str):
    amount = -item.amount_cents
    topups = Topup.objects.filter(supply_point=sp, channel=Channel.TRANSFER).order_by(
        "-credited_at", "-pk"
    )
    topup = next((t for t in topups if t.amount_cents - t.reversed_cents >= amount), None)
    if topup is None:
        raise services.Conflict(
            f"This supply point has no transfer top-up with {format_eur(amount)} € left to take "
            "back: check the EAN."
        )
    reversal, _ = services.reverse_topup(
        topup,
        amount,
        ReversalReason.BANK_RETURN,
        key=f"bank:{item.line.key}",
        by=by,
        counter_account_id=suspense_account().pk,
    )
    item.status = SuspenseStatus.MATCHED
    item.resolved_by = by
    item.resolved_at = clock.now()
    item.save()
    BankLine.objects.filter(pk=item.line_id).update(reversal=reversal)
    return topup


@transaction.atomic
def return_suspense(item: SuspenseItem, by: str = "", note: str = "") -> None:
    """Mark an unmatched transfer for return to the payer: the money leaves the suspense."""
    item = SuspenseItem.objects.select_for_update().select_related("line").get(pk=item.pk)
    if item.status != SuspenseStatus.OPEN:
        raise services.Conflict("This transfer was already handled.")
    if item.amount_cents < 0:
        raise services.Conflict(
            "A debit cannot be returned to a payer: match it to the EAN whose transfer it takes "
            "back."
        )
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
