"""Top-up operations. Each public service is one transaction; helpers never commit.

Every channel ends in `credit_topup`: the top-up row (unique per channel transaction id), the
ledger credit (same key, idempotent), the credit-state refresh and the `balance_changed` hook
(inside prepayment.services.credit), and the `topup_received` event — all in one transaction.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from solde import clock
from solde.ledger.models import AccountKind, LedgerAccount, Transaction, TransactionKind
from solde.ledger.services import account as ledger_account
from solde.ledger.services import collections_account
from solde.notifications.events import publish
from solde.prepayment import credit_control
from solde.prepayment import services as prepayment
from solde.prepayment.models import AccountState, PrepaymentAccount
from solde.registry.models import Dso, SupplierAssignment, SupplyPoint
from solde.topups import rules
from solde.topups.models import (
    AdjustmentKind,
    Channel,
    ManualAdjustment,
    Partner,
    ReversalReason,
    Topup,
    TopupReversal,
    TopupStatus,
)


class TopupError(ValueError):
    """A refusal with an API-style code and a sentence that says what to do (str = detail)."""

    status = 409
    code = "refused"

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class UnknownReference(TopupError):
    status = 404
    code = "not_found"


class InvalidInput(TopupError):
    status = 422
    code = "validation_error"


class PartnerWithoutChannel(TopupError):
    status = 403
    code = "forbidden"


class AccountNotOpen(TopupError):
    status = 409
    code = "account_not_open"


class Conflict(TopupError):
    status = 409
    code = "conflict"


class PaymentUnavailable(TopupError):
    status = 503
    code = "provider_unavailable"


def find_supply_point(reference: str) -> SupplyPoint:
    """The supply point for a customer reference (13 digits) or a full EAN (18)."""
    kind = rules.reference_kind(reference)
    if kind is None:
        raise InvalidInput(
            "Give the customer reference (13 digits) or the full EAN (18 digits).",
            field="reference",
        )
    field, digits = kind
    # The account comes along (one query): the top-up path needs it next.
    sp = SupplyPoint.objects.select_related("customer", "account").filter(**{field: digits}).first()
    if sp is None:
        raise UnknownReference(
            "No supply point in prepayment has this reference: check the digits with the customer."
        )
    return sp


def open_account_for(sp: SupplyPoint) -> PrepaymentAccount:
    """The supply point's account, if it can take a top-up now (active)."""
    if SupplyPoint.account.is_cached(sp):  # loaded with the supply point
        acc = getattr(sp, "account", None)
    else:
        acc = PrepaymentAccount.objects.filter(supply_point=sp).first()
    if acc is None or acc.state == AccountState.PENDING:
        raise AccountNotOpen(
            _(
                "Le prépaiement de ce point de fourniture n'est pas encore actif : n'encaissez "
                "pas le paiement ; le client pourra recharger dès que le compteur communique."
            )
        )
    if acc.state == AccountState.CLOSED:
        raise AccountNotOpen(
            _(
                "Le compte de prépaiement de ce point de fourniture est clôturé : n'encaissez pas "
                "le paiement."
            )
        )
    return acc


@dataclass
class _Locked:
    """An account as `_credit` reads it with its row lock (`_lock_for_credit`)."""

    pk: int
    state: str
    balance_account_id: int
    supply_point_id: int
    supply_point: SupplyPoint | None  # the caller's instance, when it came with the account
    supplier_id: int | None
    counter_id: int | None
    facts: credit_control.Facts


def _lock_for_credit(account: PrepaymentAccount, day, channel: str | None) -> _Locked:
    """Lock the account's row and read, in the same query, what crediting it needs: its state,
    ledger account, supply point, the supplier on `day` (as `SupplyPoint.supplier_on`), the
    channel's collections account (None: not created yet) and credit control's facts."""
    q = connection.ops.quote_name
    a, sp, dso, sa, la = (
        q(m._meta.db_table)
        for m in (PrepaymentAccount, SupplyPoint, Dso, SupplierAssignment, LedgerAccount)
    )
    meter = credit_control.meter_sql("a")
    lock = " FOR UPDATE OF a" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT a.state, a.balance_account_id, a.supply_point_id, a.supply,
                   {credit_control.pending_sql(meter)}, sp.energy,
                   d.emergency_credit_electricity_cents, d.emergency_credit_gas_cents,
                   (SELECT sa.supplier_id FROM {sa} sa WHERE sa.supply_point_id = a.supply_point_id
                      AND sa.valid_from <= %s ORDER BY sa.valid_from DESC LIMIT 1),
                   (SELECT la.id FROM {la} la WHERE la.code = %s)
            FROM {a} a JOIN {sp} sp ON sp.id = a.supply_point_id
            JOIN {dso} d ON d.code = sp.dso_id
            WHERE a.id = %s{lock}
            """,
            [
                connection.ops.adapt_datefield_value(day),
                f"collections:{channel}" if channel else "",
                account.pk,
            ],
        )
        row = cur.fetchone()
    if row is None:
        raise PrepaymentAccount.DoesNotExist(account.pk)
    state, ledger_id, sp_id, supply, mask, energy, elec, gas, supplier_id, counter_id = row
    cached = PrepaymentAccount.supply_point.is_cached(account)
    limit = Dso(
        emergency_credit_electricity_cents=elec, emergency_credit_gas_cents=gas
    ).emergency_credit_cents(energy)
    return _Locked(
        account.pk,
        state,
        ledger_id,
        sp_id,
        account.supply_point if cached else None,
        supplier_id,
        counter_id,
        credit_control.Facts(supply, credit_control.pending_kinds(mask), limit),
    )


def _credit(
    account: PrepaymentAccount,
    amount_cents: int,
    *,
    channel: str,
    external_id: str,
    partner: Partner | None = None,
    payer: str = "",
    counter_account_id: int | None = None,
    details: dict | None = None,
    at: datetime | None = None,
) -> tuple[Topup, bool]:
    rules.check_amount(channel, amount_cents)
    key = rules.source_key(channel, external_id, partner.pk if partner else None)
    now = at or clock.now()
    day = clock.local_date(now)
    # Lock the account first: parallel identical requests queue here, then see the first row.
    # The same query reads all the credit needs (supplier, counterpart, credit control's facts).
    locked = _lock_for_credit(account, day, None if counter_account_id else channel)
    if locked.state != AccountState.ACTIVE:
        # A repeat returns the first top-up whatever the account's state now.
        existing = Topup.objects.filter(source_key=key).first()
        if existing:
            return existing, False
        open_account_for(SupplyPoint.objects.get(pk=locked.supply_point_id))  # raises
    counter = counter_account_id or locked.counter_id or collections_account(channel).pk
    info = {"channel": channel, "external_id": external_id, **(details or {})}
    if partner:
        info["partner"] = partner.name
    if payer:
        info["payer"] = payer
    # The ledger key's unique index is the repeat check: a key posted already (by a twin that
    # held the lock before us, or committed meanwhile) posts nothing.
    tx_id, balance = prepayment.post_credit(
        locked,
        amount_cents,
        key=f"topup:{key}",
        kind=TransactionKind.TOPUP,
        counter_account_id=counter,
        reference=f"{channel} {external_id}"[:120],
        details=info,
        at=now,
        facts=locked.facts,
    )
    if (
        tx_id is None or balance is None
    ):  # a repeat: the first top-up (its supply point for the receipt)
        return Topup.objects.select_related("supply_point").get(source_key=key), False
    topup = Topup.objects.create(
        source_key=key,
        channel=channel,
        external_id=external_id,
        partner=partner,
        payer=payer,
        supply_point_id=locked.supply_point_id,
        account=account,
        amount_cents=amount_cents,
        transaction_id=tx_id,
        supplier_id=locked.supplier_id,
        day=day,
        balance_after_cents=balance,
        details=details or {},
        created_at=now,
        credited_at=now,
    )
    if locked.supply_point is not None:
        topup.supply_point = locked.supply_point  # the receipt shows its EAN
    publish(
        "topup_received",
        locked.supply_point_id,
        f"topup_received:{topup.pk}",
        {
            "topup_id": topup.pk,
            "channel": channel,
            "amount_cents": amount_cents,
            "balance_cents": balance,
        },
        at=now,
    )
    return topup, True


def credit_topup(
    account: PrepaymentAccount,
    amount_cents: int,
    *,
    channel: str,
    external_id: str,
    partner: Partner | None = None,
    payer: str = "",
    counter_account_id: int | None = None,
    details: dict | None = None,
    at: datetime | None = None,
) -> tuple[Topup, bool]:
    """Credit a confirmed top-up once per (channel, partner, external id).

    Returns (top-up, created). A repeat returns the first top-up and `False`. Refuses (and
    writes nothing) an amount the channel does not take or an account that is not active.
    """

    credit = functools.partial(
        _credit,
        account,
        amount_cents,
        channel=channel,
        external_id=external_id,
        partner=partner,
        payer=payer,
        counter_account_id=counter_account_id,
        details=details,
        at=at,
    )
    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction the savepoint of _credit_once is enough (it holds
        # every write): no second savepoint round trip on the top-up path.
        return _credit_once(credit, channel, external_id, partner)
    with transaction.atomic():
        return _credit_once(credit, channel, external_id, partner)


def _credit_once(
    credit: Callable[[], tuple[Topup, bool]],
    channel: str,
    external_id: str,
    partner: Partner | None,
) -> tuple[Topup, bool]:
    if connection.vendor == "postgresql":
        # The ledger key's ON CONFLICT turns a twin into a repeat, never an error: no
        # savepoint round trips.
        return credit()
    try:
        with transaction.atomic():
            return credit()
    except IntegrityError:
        # A concurrent twin won the unique key between our check and our insert.
        key = rules.source_key(channel, external_id, partner.pk if partner else None)
        existing = Topup.objects.filter(source_key=key).first()
        if existing is None:
            raise
        return existing, False


@dataclass
class PartnerResult:
    topup: Topup
    created: bool
    balance_cents: int


@transaction.atomic
def partner_topup(
    partner: Partner, reference: str, amount: str, channel: str, transaction_id: str
) -> PartnerResult:
    """A top-up collected by a partner (terminal, shop, CPAS): API.md `POST /topups`."""
    if channel not in rules.LIMITED_CHANNELS or channel == Channel.ONLINE:
        raise InvalidInput("channel must be one of: terminal, retail, cpas.", field="channel")
    if not partner.channel:
        raise PartnerWithoutChannel(
            "This partner key is not registered for a channel yet: ask the platform operator "
            "to set the partner's channel (terminal, retail or cpas)."
        )
    if channel != partner.channel:
        raise InvalidInput(
            f"This partner key is registered for the '{partner.channel}' channel.",
            field="channel",
        )
    transaction_id = (transaction_id or "").strip()
    if not transaction_id or len(transaction_id) > 64:
        raise InvalidInput(
            "partner_transaction_id must hold 1 to 64 characters.", field="partner_transaction_id"
        )
    try:
        cents = rules.parse_amount(channel, amount)
    except rules.AmountRefused as exc:
        raise InvalidInput(str(exc), field="amount") from exc
    sp = find_supply_point(reference)
    account = getattr(sp, "account", None)
    if account is None:
        open_account_for(sp)  # raises: no prepayment account
    assert account is not None
    # credit_topup returns the first top-up of a repeated id (whatever the account's state
    # now) and refuses a new one on an account that is not active: no separate look-up here.
    payer = partner.name if channel == Channel.CPAS else ""
    topup, created = credit_topup(
        account,
        cents,
        channel=channel,
        external_id=transaction_id,
        partner=partner,
        payer=payer,
    )
    if not created and (
        topup.supply_point_id != sp.pk or topup.amount_cents != cents or topup.channel != channel
    ):
        raise Conflict(
            "This partner_transaction_id was already used for another top-up: send a new id "
            "for a new payment."
        )
    return PartnerResult(topup, created, topup.balance_after_cents)


def _reverse(
    topup: Topup,
    amount_cents: int,
    reason: str,
    key: str,
    by: str = "",
    counter_account_id: int | None = None,
) -> tuple[TopupReversal, bool]:
    locked = Topup.objects.select_for_update().get(pk=topup.pk)
    existing = TopupReversal.objects.filter(key=key).first()
    if existing:
        return existing, False
    remaining = locked.amount_cents - locked.reversed_cents
    if amount_cents <= 0 or amount_cents > remaining:
        raise Conflict(f"Only {remaining / 100:.2f} € of this top-up can still be reversed.")
    now = clock.now()
    ledger_key = f"reversal:{key}"
    prepayment.credit(
        locked.account,
        -amount_cents,
        key=ledger_key,
        kind=TransactionKind.REVERSAL,
        counter_account_id=counter_account_id or collections_account(locked.channel).pk,
        reference=f"reversal of top-up {locked.pk} ({reason})",
        details={"topup_id": locked.pk, "reason": reason, "by": by},
        at=now,
    )
    reversal = TopupReversal.objects.create(
        key=key,
        topup=locked,
        amount_cents=amount_cents,
        reason=reason,
        transaction=Transaction.objects.get(idempotency_key=ledger_key),
        day=clock.local_date(now),
        created_at=now,
        created_by=by,
    )
    locked.reversed_cents += amount_cents
    locked.status = (
        TopupStatus.REVERSED
        if locked.reversed_cents >= locked.amount_cents
        else TopupStatus.PARTIALLY_REVERSED
    )
    locked.save(update_fields=["reversed_cents", "status"])
    return reversal, True


@transaction.atomic
def reverse_topup(
    topup: Topup,
    amount_cents: int | None,
    reason: str,
    key: str,
    by: str = "",
    counter_account_id: int | None = None,
) -> tuple[TopupReversal, bool]:
    """Take money back from a top-up (refund, chargeback, cancel, bank return) once per `key`:
    a `reversal` ledger transaction against the channel's collections (or `counter_account_id`).
    The balance may go negative (emergency credit)."""
    amount = topup.amount_cents - topup.reversed_cents if amount_cents is None else amount_cents
    return _reverse(topup, amount, reason, key, by, counter_account_id)


@transaction.atomic
def partner_cancel(partner: Partner, topup_id: int) -> tuple[Topup, int]:
    """A partner cancels its own top-up within 15 minutes. Returns (top-up, new balance)."""
    topup = Topup.objects.filter(pk=topup_id, partner=partner).first()
    if topup is None:
        raise UnknownReference("This partner has no top-up with this id.")
    key = f"cancel:{topup.pk}"
    if not TopupReversal.objects.filter(key=key).exists():
        limit = topup.credited_at + timedelta(minutes=rules.PARTNER_CANCEL_MINUTES)
        if clock.now() > limit:
            raise Conflict(
                f"A top-up can be cancelled only within {rules.PARTNER_CANCEL_MINUTES} minutes; "
                "ask the customer service for a refund."
            )
        if topup.reversed_cents:
            raise Conflict("This top-up was already partly reversed; ask the customer service.")
        _reverse(topup, topup.amount_cents, ReversalReason.PARTNER_CANCEL, key, partner.name)
    topup.refresh_from_db()
    return topup, balance_cents(topup.account)


def balance_cents(account: PrepaymentAccount) -> int:
    return LedgerAccount.objects.values_list("balance_cents", flat=True).get(
        pk=account.balance_account_id
    )


def partner_for_key(api_key) -> Partner:
    """The partner behind an API key; a `topups` key with no partner yet becomes one. Read once
    per key instance: the API keeps a verified key (and so its partner) a few seconds
    (solde.api.keys)."""
    try:
        partner = api_key.partner
    except Partner.DoesNotExist:
        partner, _new = Partner.objects.get_or_create(
            api_key=api_key, defaults={"name": api_key.name}
        )
    if not partner.active:
        raise TopupError("This partner is suspended: contact the platform operator.")
    return partner


@transaction.atomic
def manual_adjustment(
    account: PrepaymentAccount, amount_cents: int, reason: str, operator, kind: str
) -> ManualAdjustment:
    """An operator's credit or debit, with its reason, audited. A `topup` is money the operator
    received (owed to the supplier like any top-up); an `adjustment` is a correction."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why: a reason is mandatory.", field="reason")
    try:
        rules.check_amount("manual", amount_cents)
    except rules.AmountRefused as exc:
        raise InvalidInput(str(exc), field="amount") from exc
    now = clock.now()
    who = getattr(operator, "username", "") or ""
    audit = {"operator": who, "reason": reason}
    marker = uuid.uuid4().hex  # each operator action is its own transaction
    topup = None
    if kind == AdjustmentKind.TOPUP:
        if amount_cents < 0:
            raise InvalidInput(
                "A manual top-up is money received: enter a positive amount, or choose "
                "'Correction' for a debit.",
                field="amount",
            )
        topup, _created = credit_topup(
            account, amount_cents, channel=Channel.MANUAL, external_id=marker, details=audit
        )
        tx = topup.transaction
    else:
        if account.state != AccountState.ACTIVE:
            open_account_for(account.supply_point)
        key = f"adjustment:{marker}"
        prepayment.credit(
            account,
            amount_cents,
            key=key,
            kind=TransactionKind.ADJUSTMENT,
            counter_account_id=ledger_account("adjustments", AccountKind.ADJUSTMENTS).pk,
            reference=reason[:120],
            details=audit,
            at=now,
        )
        tx = Transaction.objects.get(idempotency_key=key)
    return ManualAdjustment.objects.create(
        account=account,
        kind=kind,
        amount_cents=amount_cents,
        reason=reason,
        operator=operator if getattr(operator, "pk", None) else None,
        transaction=tx,
        topup=topup,
        created_at=now,
    )


# --- past top-ups, set-based ---------------------------------------------------------------------


@dataclass
class PastTopup:
    """A top-up already confirmed by its channel at `at` (the demo's history). A transfer
    carries its bank line (`bank_statement` id and the debtor); a partner top-up its partner."""

    account: PrepaymentAccount
    amount_cents: int
    channel: str
    external_id: str
    at: datetime
    partner: Partner | None = None
    payer: str = ""
    bank_statement: str = ""  # a statement id: the line is filed under it (transfers)
    bank_iban: str = "BE00000000000000"
    text: str = ""


def record_past_topups(items: list[PastTopup]) -> int:
    """Record many past top-ups set-based, with the rows `credit_topup` writes for each: the
    top-up (unique per source key), its ledger credit (key `topup:<source key>`, counterpart
    `collections:<channel>`), the supplier on its day, its bank line for a transfer. No
    `topup_received` message: these were confirmed in the past (a message now would be wrong).
    Keys already recorded are skipped, so a second run changes nothing. Refuses (nothing
    written) an amount the channel does not take or an account that is not active. Credit
    states are refreshed once at the end. Returns how many were recorded."""
    from solde.ledger.services import Posting, balances, post_many
    from solde.topups.models import BankLine, BankStatement

    if not items:
        return 0
    with transaction.atomic():
        keyed = []
        for item in items:
            rules.check_amount(item.channel, item.amount_cents)
            if item.account.state != AccountState.ACTIVE:
                open_account_for(item.account.supply_point)
            key = rules.source_key(
                item.channel, item.external_id, item.partner.pk if item.partner else None
            )
            keyed.append((key, item))
        known = set(
            Topup.objects.filter(source_key__in=[k for k, _ in keyed]).values_list(
                "source_key", flat=True
            )
        )
        todo = []
        for key, item in keyed:
            if key not in known:
                known.add(key)
                todo.append((key, item))
        if not todo:
            return 0
        counters = {ch: collections_account(ch).pk for ch in {i.channel for _, i in todo}}
        postings = []
        for key, item in todo:
            info = {"channel": item.channel, "external_id": item.external_id}
            if item.partner:
                info["partner"] = item.partner.name
            if item.payer:
                info["payer"] = item.payer
            postings.append(
                Posting(
                    key=f"topup:{key}",
                    kind=TransactionKind.TOPUP,
                    entries=[
                        (item.account.balance_account_id, item.amount_cents),
                        (counters[item.channel], -item.amount_cents),
                    ],
                    at=item.at,
                    supply_point_id=item.account.supply_point_id,
                    reference=f"{item.channel} {item.external_id}"[:120],
                    details=info,
                )
            )
        post_many(postings)
        tx_ids = dict(
            Transaction.objects.filter(idempotency_key__in=[p.key for p in postings]).values_list(
                "idempotency_key", "pk"
            )
        )
        # The balance after each top-up as the ledger holds it now (the charges of those past
        # days are posted later, by the daily close): today's balance less the later top-ups.
        now_balance = balances({i.account.balance_account_id for _, i in todo})
        later: dict[int, int] = {}
        after: dict[str, int] = {}
        for key, item in sorted(todo, key=lambda t: t[1].at, reverse=True):
            acc = item.account.balance_account_id
            after[key] = now_balance.get(acc, 0) - later.get(acc, 0)
            later[acc] = later.get(acc, 0) + item.amount_cents
        suppliers = _suppliers_on(
            {(i.account.supply_point_id, clock.local_date(i.at)) for _, i in todo}
        )
        topups = Topup.objects.bulk_create(
            [
                Topup(
                    source_key=key,
                    channel=item.channel,
                    external_id=item.external_id,
                    partner=item.partner,
                    payer=item.payer,
                    supply_point_id=item.account.supply_point_id,
                    account=item.account,
                    amount_cents=item.amount_cents,
                    transaction_id=tx_ids[f"topup:{key}"],
                    supplier_id=suppliers.get(
                        (item.account.supply_point_id, clock.local_date(item.at))
                    ),
                    day=clock.local_date(item.at),
                    balance_after_cents=after[key],
                    details={},
                    created_at=item.at,
                    credited_at=item.at,
                )
                for key, item in todo
            ],
            batch_size=1000,
        )
        if topups and topups[0].pk is None:
            by_key = {
                t.source_key: t for t in Topup.objects.filter(source_key__in=[k for k, _ in todo])
            }
            topups = [by_key[k] for k, _ in todo]
        transfers = [(t, i) for t, (_, i) in zip(topups, todo, strict=True) if i.bank_statement]
        if transfers:
            statements = {}
            for _t, i in transfers:
                if (i.bank_statement, i.bank_iban) not in statements:
                    statements[i.bank_statement, i.bank_iban] = BankStatement.objects.get_or_create(
                        statement_id=i.bank_statement,
                        iban=i.bank_iban,
                        defaults={"imported_at": i.at, "lines": 0},
                    )[0]
            BankLine.objects.bulk_create(
                [
                    BankLine(
                        key=t.external_id[:100],
                        statement=statements[i.bank_statement, i.bank_iban],
                        amount_cents=t.amount_cents,
                        booking_date=t.day,
                        debtor_name=i.payer[:200],
                        structured=i.text if i.text.startswith("+++") else "",
                        text="" if i.text.startswith("+++") else i.text,
                        topup=t,
                    )
                    for t, i in transfers
                ],
                batch_size=1000,
            )
            for stmt in statements.values():
                stmt.lines = stmt.lines_set.count()
                stmt.save(update_fields=["lines"])
        prepayment.refresh_credit_state({i.account.pk for _, i in todo})
    return len(todo)


def _suppliers_on(pairs: set[tuple[int, object]]) -> dict[tuple[int, object], int | None]:
    """The supplier of each (supply point, local day), from the supplier history, set-based."""
    from solde.registry.models import SupplierAssignment

    history: dict[int, list[tuple[object, int]]] = {}
    sp_ids = sorted({sp for sp, _ in pairs})
    for i in range(0, len(sp_ids), 500):
        for sp, since, supplier in (
            SupplierAssignment.objects.filter(supply_point_id__in=sp_ids[i : i + 500])
            .order_by("valid_from")
            .values_list("supply_point_id", "valid_from", "supplier_id")
        ):
            history.setdefault(sp, []).append((since, supplier))
    out = {}
    for sp, day in pairs:
        rows = history.get(sp, [])
        current = [s for since, s in rows if since <= day]  # type: ignore[operator]
        out[sp, day] = current[-1] if current else (rows[0][1] if rows else None)
    return out
