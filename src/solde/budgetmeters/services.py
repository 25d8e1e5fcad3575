"""The budget-meter migration: a dry run that says what each line would become, then the
import, one transaction per batch, idempotent per EAN.

A migrated line becomes, in one batch transaction: its customer (shared by a household's lines),
its supply point, supplier and smart meter through the registry's one creation service, its
pending prepayment account, the carried balance as a `carried_balance` ledger transaction (key
`carried:<EAN>`, which also marks the EAN as migrated), an activation code, and its letter in
the batch's printable PDF. A positive balance replaces the starting advance; a debt is put on
the advance account, so the daily close recovers it like the advance, at the DSO's daily amount.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import formats, translation
from django.utils.translation import gettext as _

from solde import clock
from solde.budgetmeters import rules
from solde.budgetmeters.rules import MigrationFileError, Problem, Row
from solde.identifiers import customer_reference
from solde.ledger.models import AccountKind, Transaction, TransactionKind
from solde.ledger.services import Posting, post_many
from solde.ledger.services import account as ledger_account
from solde.notifications import letters
from solde.notifications.render import DEFAULT_IBAN
from solde.notifications.rules import format_amount
from solde.notifications.texts import ENERGY_WORD, HOW_TO_TOP_UP, SIGNATURE
from solde.portal.services import issue_activation_codes
from solde.prepayment.models import PrepaymentAccount
from solde.registry import services as registry
from solde.registry.models import Customer, Dso, Meter, Supplier, SupplyPoint

log = logging.getLogger(__name__)

__all__ = ["MigrationFileError", "MigrationReport", "migrate"]

DEFAULT_BATCH = 200


class Status:
    NEW = "new"  # dry run: would be migrated
    MIGRATED = "migrated"
    ALREADY = "already_migrated"
    REFUSED = "refused"


@dataclass
class LineOutcome:
    line: int
    ean: str
    customer: str
    balance_cents: int | None
    status: str
    problems: list[Problem] = field(default_factory=list)
    batch: int | None = None

    @property
    def reasons(self) -> str:
        return " ".join(p.message for p in self.problems)


@dataclass
class Batch:
    number: int
    lines: int
    letters: int
    pdf: str  # path relative to MEDIA_ROOT


@dataclass
class MigrationReport:
    """Per-line outcomes (in file order) and the batches written: what the command prints and
    the console's upload page renders."""

    dso: str
    dry_run: bool
    lines: list[LineOutcome] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.lines if o.status == status)

    @property
    def refused(self) -> list[LineOutcome]:
        return [o for o in self.lines if o.status == Status.REFUSED]

    @property
    def carried_cents(self) -> int:
        done = (Status.NEW, Status.MIGRATED)
        return sum(o.balance_cents or 0 for o in self.lines if o.status in done)


def migrate(
    data: bytes,
    dso_code: str,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    label: str = "",
) -> MigrationReport:
    """Check every line (dry run) and, unless `dry_run`, import the good ones by batches.

    Lines already migrated (their `carried:<EAN>` transaction exists) are skipped: running the
    same file twice changes nothing. Refused lines are reported and never half-written.
    Raises MigrationFileError when the file cannot be read, and registry.InvalidInput for an
    unknown DSO."""
    dso = Dso.objects.filter(code=(dso_code or "").strip().upper()).first()
    if dso is None:
        known = ", ".join(Dso.objects.order_by("code").values_list("code", flat=True))
        raise registry.InvalidInput("dso", f"Unknown DSO '{dso_code}': use one of {known}.")
    if not 1 <= batch_size <= 5000:
        raise registry.InvalidInput("batch_size", "A batch has 1 to 5,000 lines.")
    rows = rules.read_rows(data)
    already = _check(rows, dso)
    report = MigrationReport(dso=dso.code, dry_run=dry_run)
    outcome: dict[int, LineOutcome] = {}
    for row in rows:
        status = (
            Status.REFUSED if row.problems else Status.ALREADY if row.ean in already else Status.NEW
        )
        outcome[row.line] = LineOutcome(
            line=row.line,
            ean=row.ean,
            customer=f"{row.first_name} {row.last_name}".strip(),
            balance_cents=None
            if any(p.column == "balance_eur" for p in row.problems)
            else row.balance_cents,
            status=status,
            problems=row.problems,
        )
        report.lines.append(outcome[row.line])
    if dry_run:
        return report
    todo = [r for r in rows if outcome[r.line].status == Status.NEW]
    stamp = f"{clock.local(clock.now()):%Y%m%d-%H%M%S}-{dso.code}"
    if label:
        stamp += f"-{''.join(c for c in label if c.isalnum() or c in '-_')[:40]}"
    for number, batch in enumerate(_batches(todo, batch_size), start=1):
        written = _import_batch(batch, dso, number, stamp)
        for row in batch:
            outcome[row.line].status = Status.MIGRATED
            outcome[row.line].batch = number
        report.batches.append(written)
    return report


def _check(rows: list[Row], dso: Dso) -> set[str]:
    """The checks that need the database or the whole file; returns the EANs already migrated."""
    by_ean: dict[str, list[Row]] = defaultdict(list)
    by_serial: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.ean:
            by_ean[row.ean].append(row)
        if row.meter_serial:
            by_serial[row.meter_serial].append(row)
    for ean, same in by_ean.items():
        if len(same) > 1:
            lines = ", ".join(str(r.line) for r in same)
            for row in same:
                row.refuse(
                    "duplicate_ean",
                    "ean",
                    _("L'EAN %(ean)s figure plusieurs fois dans le fichier (lignes %(lines)s).")
                    % {"ean": ean, "lines": lines},
                )
    for serial, same in by_serial.items():
        if len(same) > 1:
            lines = ", ".join(str(r.line) for r in same)
            for row in same:
                row.refuse(
                    "duplicate_serial",
                    "meter_serial",
                    _("Le compteur %(serial)s figure plusieurs fois (lignes %(lines)s).")
                    % {"serial": serial, "lines": lines},
                )
    eans = sorted(by_ean)
    migrated: set[str] = set()
    registered: dict[str, str] = {}
    refs: dict[str, str] = {}
    for chunk in _chunks(eans):
        migrated.update(
            k.removeprefix("carried:")
            for k in Transaction.objects.filter(
                idempotency_key__in=[f"carried:{e}" for e in chunk]
            ).values_list("idempotency_key", flat=True)
        )
        registered.update(SupplyPoint.objects.filter(ean__in=chunk).values_list("ean", "dso_id"))
    for chunk in _chunks(sorted({customer_reference(e) for e in eans if e.isdigit()})):
        refs.update(
            SupplyPoint.objects.filter(customer_reference__in=chunk).values_list(
                "customer_reference", "ean"
            )
        )
    serials: dict[str, str] = {}
    for chunk in _chunks(sorted(by_serial)):
        serials.update(
            Meter.objects.filter(serial__in=chunk).values_list("serial", "supply_point__ean")
        )
    suppliers = set(Supplier.objects.values_list("code", flat=True))
    for row in rows:
        if row.problems and any(p.column == "ean" for p in row.problems):
            continue
        if row.ean in migrated:
            continue
        if not dso.owns_ean(row.ean):
            row.refuse(
                "unknown_ean",
                "ean",
                _(
                    "L'EAN %(ean)s n'est pas un EAN de %(dso)s (ses EAN commencent par "
                    "%(prefixes)s)."
                )
                % {"ean": row.ean, "dso": dso.code, "prefixes": dso.ean_prefixes},
            )
        elif row.ean in registered:
            row.refuse(
                "already_registered",
                "ean",
                _(
                    "L'EAN %(ean)s est déjà un point de fourniture de Solde (%(dso)s), sans "
                    "migration : rien n'est repris."
                )
                % {"ean": row.ean, "dso": registered[row.ean]},
            )
        elif refs.get(customer_reference(row.ean), row.ean) != row.ean:
            row.refuse(
                "reference_taken",
                "ean",
                _("Un autre EAN se termine déjà par %(ref)s.")
                % {"ref": customer_reference(row.ean)},
            )
        if row.meter_serial in serials and serials[row.meter_serial] != row.ean:
            row.refuse(
                "serial_taken",
                "meter_serial",
                _("Le compteur %(serial)s est déjà enregistré sur l'EAN %(ean)s.")
                % {"serial": row.meter_serial, "ean": serials[row.meter_serial]},
            )
        if row.supplier and row.supplier not in suppliers:
            row.refuse(
                "unknown_supplier",
                "supplier",
                _("Fournisseur « %(code)s » inconnu : créez-le d'abord.") % {"code": row.supplier},
            )
        if row.meter_placed_on and row.meter_placed_on > clock.today():
            row.refuse(
                "future_date",
                "meter_placed_on",
                _("Le compteur n'est pas encore placé (%(day)s) : migrez la ligne après la pose.")
                % {"day": row.meter_placed_on.isoformat()},
            )
        if row.energy:
            try:
                row.registers = registry.validate_registers(row.energy, row.registers, "registers")
            except registry.InvalidInput as exc:
                row.refuse("bad_registers", "registers", exc.detail)
    return migrated


def _batches(rows: list[Row], size: int) -> list[list[Row]]:
    """Batches of at most `size` lines (more only for one household larger than a batch), a
    household's lines kept together so it gets one letter."""
    households: dict[tuple, list[Row]] = {}
    for row in rows:
        households.setdefault(row.customer_key, []).append(row)
    out: list[list[Row]] = []
    current: list[Row] = []
    for group in households.values():
        if current and len(current) + len(group) > size:
            out.append(current)
            current = []
        current.extend(group)
    if current:
        out.append(current)
    return out


def _import_batch(rows: list[Row], dso: Dso, number: int, stamp: str) -> Batch:
    """One transaction: everything of the batch's lines, or nothing. The batch's letters are
    written before the commit and removed if it fails (a printed code always works)."""
    rel = Path(letters.LETTER_DIR) / "migration" / f"{stamp}-batch-{number:03d}.pdf"
    path = Path(settings.MEDIA_ROOT) / rel
    try:
        with transaction.atomic():
            letter_count = _write_batch(rows, dso, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("budget-meter migration batch %s: %s lines, %s", number, len(rows), rel)
    return Batch(number=number, lines=len(rows), letters=letter_count, pdf=str(rel))


def _write_batch(rows: list[Row], dso: Dso, path: Path) -> int:
    suppliers = {s.code: s for s in Supplier.objects.filter(code__in={r.supplier for r in rows})}
    customers: dict[tuple, Customer] = {}
    items = []
    for row in rows:
        customer = customers.get(row.customer_key)
        if customer is None:
            customer = customers[row.customer_key] = Customer(
                first_name=row.first_name,
                last_name=row.last_name,
                email=row.email,
                phone=row.phone,
                language=row.language,
            )
        items.append(
            registry.NewSupplyPoint(
                ean=row.ean,
                dso=dso,
                energy=row.energy,
                customer=customer,
                supplier=suppliers[row.supplier],
                meter_serial=row.meter_serial,
                registers=row.registers,
                meter_installed_at=clock.day_start(row.meter_placed_on)
                if row.meter_placed_on
                else None,
                supplier_since=row.meter_placed_on,
                tariff_category=row.tariff_category,
                protected=row.protected,
                street=row.street,
                number=row.number,
                postcode=row.postcode,
                city=row.city,
            )
        )
    created = registry.create_supply_points(items)
    sps = [sp for sp, _meter in created]
    accounts = {
        a.supply_point_id: a for a in PrepaymentAccount.objects.filter(supply_point__in=sps)
    }
    carried = ledger_account(f"carried:{dso.code}", AccountKind.CARRIED)
    now = clock.now()
    postings = []
    for sp, row in zip(sps, rows, strict=True):
        acc = accounts[sp.pk]
        cents = row.balance_cents
        # Credit: onto the balance (and no starting advance at activation). Debt: onto the
        # advance account, which the daily close recovers at the DSO's daily amount.
        target = acc.balance_account_id if cents >= 0 else acc.advance_account_id
        postings.append(
            Posting(
                key=f"carried:{sp.ean}",
                kind=TransactionKind.CARRIED_BALANCE,
                entries=[(target, cents), (carried.pk, -cents)],
                at=now,
                supply_point_id=sp.pk,
                reference=f"budget meter {sp.ean}",
                details={
                    "credit": cents > 0,
                    "carried_cents": cents,
                    "line": row.line,
                    "meter_placed_on": row.meter_placed_on.isoformat()
                    if row.meter_placed_on
                    else "",
                },
            )
        )
    post_many(postings)
    codes = issue_activation_codes(sps, notify=False)
    by_customer: dict[int, list[tuple[SupplyPoint, Row]]] = defaultdict(list)
    for sp, row in zip(sps, rows, strict=True):
        by_customer[sp.customer_id].append((sp, row))
    batch_letters = [_letter(pairs, dso, codes) for pairs in by_customer.values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(letters.letters_pdf(batch_letters))
    tmp.replace(path)
    return len(batch_letters)


def _letter(
    pairs: list[tuple[SupplyPoint, Row]], dso: Dso, codes: dict[int, str]
) -> letters.Letter:
    """The customer's letter in their language: per supply point the new meter, the carried
    balance, the activation code; then how to top up and the phone line."""
    sp0 = pairs[0][0]
    customer = sp0.customer
    with translation.override(customer.language):
        paragraphs = [
            _("Bonjour %(name)s,") % {"name": f"{customer.first_name} {customer.last_name}".strip()}
        ]
        recovery = format_amount(dso.advance_recovery_cents_per_day, customer.language)
        for sp, row in pairs:
            amount = format_amount(abs(row.balance_cents), customer.language)
            advance = format_amount(dso.advance_cents(sp.energy), customer.language)
            placed = formats.date_format(row.meter_placed_on or clock.today(), "DATE_FORMAT")
            paragraphs.append(
                _(
                    "Le %(placed)s, %(dso)s a placé un compteur communicant %(energy)s à votre "
                    "adresse (EAN %(ean)s). Il remplace votre compteur à budget et fonctionne en "
                    "prépaiement : vous rechargez, et votre consommation est déduite chaque jour "
                    "de votre solde."
                )
                % {
                    "placed": placed,
                    "dso": dso.name,
                    "energy": _(ENERGY_WORD[sp.energy]),
                    "ean": sp.ean,
                }
            )
            if row.balance_cents > 0:
                paragraphs.append(
                    _(
                        "Le crédit restant sur votre compteur à budget, %(amount)s, est repris "
                        "sur votre solde de prépaiement."
                    )
                    % {"amount": amount}
                )
            elif row.balance_cents < 0:
                paragraphs.append(
                    _(
                        "Votre compteur à budget laissait une dette de %(amount)s. Vous démarrez "
                        "avec une avance de %(advance)s ; l'avance et la dette sont reprises petit "
                        "à petit, %(recovery)s par jour."
                    )
                    % {"amount": amount, "advance": advance, "recovery": recovery}
                )
            else:
                paragraphs.append(
                    _(
                        "Vous démarrez avec une avance de %(advance)s, reprise petit à petit, "
                        "%(recovery)s par jour."
                    )
                    % {"advance": advance, "recovery": recovery}
                )
            paragraphs.append(
                _(
                    "Votre code d'activation est %(code)s. Pour créer votre espace personnel, "
                    "allez sur %(site)s, choisissez « J'ai un code d'activation » et tapez ce code."
                )
                % {"code": codes[sp.pk], "site": settings.SITE_URL}
            )
            paragraphs.append(
                _(HOW_TO_TOP_UP)
                % {
                    "site": settings.SITE_URL,
                    "reference": sp.customer_reference,
                    "iban": getattr(settings, "TRANSFER_IBAN", DEFAULT_IBAN),
                    "ogm": sp.structured_communication,
                }
            )
        paragraphs.append(
            _(
                "Pour connaître votre solde à tout moment, appelez la ligne téléphonique "
                "%(phone)s et tapez votre référence client %(reference)s."
            )
            % {
                "phone": settings.PHONELINE_NUMBER,
                "reference": sp0.customer_reference,
            }
        )
        paragraphs.append(f"{_(SIGNATURE)}\n{dso.name}")
        return letters.Letter(
            sender=dso.name,
            recipient_lines=[
                f"{customer.first_name} {customer.last_name}".strip(),
                f"{sp0.street} {sp0.number}".strip(),
                f"{sp0.postcode} {sp0.city}".strip(),
            ],
            place_date=formats.date_format(clock.today(), "DATE_FORMAT"),
            subject=_("Votre nouveau compteur communicant en prépaiement"),
            body="\n\n".join(paragraphs),
        )


def _chunks(values: list, size: int = 500):
    for i in range(0, len(values), size):
        yield values[i : i + size]
