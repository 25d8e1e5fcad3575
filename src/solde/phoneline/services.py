"""The balance phone line: from a customer reference, what RULES.md §10 lets it say."""

from __future__ import annotations

from django.core.cache import cache

from solde import clock
from solde.identifiers import normalize_reference
from solde.ledger.models import Entry, TransactionKind
from solde.phoneline.rules import PhoneSummary
from solde.prepayment import rules as prepayment_rules
from solde.prepayment.models import PrepaymentAccount

# Brute-force guard: a caller who gets this many unknown references in the window is refused
# until it passes. References are 13 digits, so guessing needs many tries.
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


class ReferenceNotFound(LookupError):
    pass


class TooManyAttempts(RuntimeError):
    pass


def find_account(reference: str) -> PrepaymentAccount:
    """The account of a customer reference (13 digits, or the whole EAN; spaces, dots and
    dashes allowed), or ReferenceNotFound."""
    digits = normalize_reference(reference)
    if not digits.isdigit() or len(digits) not in (13, 18):
        raise ReferenceNotFound("A customer reference is the last 13 digits of the EAN.")
    account = (
        PrepaymentAccount.objects.select_related(
            "supply_point__dso", "supply_point__customer", "balance_account"
        )
        .filter(supply_point__customer_reference=digits[-13:])
        .first()
    )
    if account is None:
        raise ReferenceNotFound("No supply point has this customer reference.")
    return account


def phone_summary(reference: str) -> PhoneSummary:
    """Balance, remaining emergency credit, the last top-up (date and amount) and supply status."""
    account = find_account(reference)
    sp = account.supply_point
    balance = account.balance_account.balance_cents
    limit = sp.dso.emergency_credit_cents(sp.energy)
    last = (
        Entry.objects.filter(
            account_id=account.balance_account_id, transaction__kind=TransactionKind.TOPUP
        )
        .select_related("transaction")
        .order_by("-transaction__at", "-id")
        .first()
    )
    return PhoneSummary(
        language=sp.customer.language,
        state=account.state,
        balance_cents=balance,
        emergency_remaining_cents=prepayment_rules.emergency_remaining_cents(balance, limit),
        last_topup_on=clock.local_date(last.transaction.at) if last else None,
        last_topup_cents=last.amount_cents if last else None,
        supply=account.supply,
    )


def _key(caller: str) -> str:
    return f"phoneline:failures:{caller}"


def check_caller(caller: str) -> None:
    """Refuse a caller who has had too many unknown references lately."""
    if (cache.get(_key(caller)) or 0) >= MAX_FAILURES:
        raise TooManyAttempts("Too many unknown references from this caller; try again later.")


def record_failure(caller: str) -> None:
    key = _key(caller)
    if not cache.add(key, 1, WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, WINDOW_SECONDS)


def lookup(reference: str, caller: str) -> PhoneSummary:
    """phone_summary behind the brute-force guard for one caller (phone number or address)."""
    check_caller(caller)
    try:
        return phone_summary(reference)
    except ReferenceNotFound:
        record_failure(caller)
        raise
