"""The balance phone line: from a customer reference, the balance and the remaining emergency
credit of an active prepayment account (issue 11: nothing else), behind limits every process
shares (solde.throttle, in the database).

An unknown reference, a pending account and a closed one are one and the same answer
(`NoBalance`), reached by the same queries: the phone line is not a way to learn who is a
customer, who has left or who is about to start.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from solde import throttle
from solde.identifiers import normalize_reference
from solde.phoneline.rules import PhoneSummary
from solde.prepayment import rules as prepayment_rules
from solde.prepayment.models import PrepaymentAccount


class NoBalance(LookupError):
    """No balance to read for this reference: unknown, pending or closed — never said which."""


class TooManyAttempts(RuntimeError):
    pass


def limits() -> tuple[throttle.Limit, throttle.Limit, throttle.Limit]:
    """(per caller, per reference, global), read from settings at each call so that an operator's
    change and a test's override take effect without a restart of the module."""
    return (
        # References without a balance keyed by one calling number.
        throttle.Limit("phoneline-caller", settings.PHONELINE_CALLER_LIMIT, timedelta(hours=1)),
        # Lookups of one reference, whoever calls: a neighbour cannot watch a household's balance.
        throttle.Limit(
            "phoneline-reference", settings.PHONELINE_REFERENCE_LIMIT, timedelta(hours=1)
        ),
        # References without a balance across the whole platform: a guesser who changes numbers
        # (or spoofs them) at each call stops the line for a minute, and keeps it stopped while
        # they keep guessing (refused attempts stay counted).
        throttle.Limit("phoneline-all", settings.PHONELINE_GLOBAL_LIMIT, timedelta(minutes=1)),
    )


def _reference_key(reference: str) -> str:
    digits = normalize_reference(reference)
    return digits[-13:] if digits.isdigit() and len(digits) in (13, 18) else digits


def find_account(reference: str) -> PrepaymentAccount:
    """The active prepayment account of a customer reference (13 digits, or the whole EAN;
    spaces, dots and dashes allowed), or NoBalance."""
    digits = normalize_reference(reference)
    # One query whatever the reference: a malformed one queries an impossible value, so its
    # answer takes as long as an unknown one's.
    key = digits[-13:] if digits.isdigit() and len(digits) in (13, 18) else "-"
    account = (
        PrepaymentAccount.objects.select_related(
            "supply_point__dso", "supply_point__customer", "balance_account"
        )
        .filter(supply_point__customer_reference=key)
        .first()
    )
    if account is None or account.state != "active":
        raise NoBalance("No balance can be read for this reference.")
    return account


def phone_summary(reference: str) -> PhoneSummary:
    """Balance and remaining emergency credit of an active account, or NoBalance."""
    account = find_account(reference)
    sp = account.supply_point
    balance = account.balance_account.balance_cents
    limit = sp.dso.emergency_credit_cents(sp.energy)
    return PhoneSummary(
        language=sp.customer.language,
        balance_cents=balance,
        emergency_remaining_cents=prepayment_rules.emergency_remaining_cents(balance, limit),
    )


def lookup(reference: str, caller: str) -> PhoneSummary:
    """phone_summary behind the limits: per calling number, per reference and global.

    Every attempt is counted before the account is read (race-free: of N concurrent guesses at
    most the limit get through); a reference that has a balance gives its per-caller and global
    attempts back, so only references without one use them up. Raises TooManyAttempts or
    NoBalance."""
    per_caller, per_reference, everyone = limits()
    failures = [
        throttle.take(per_caller, [caller]),
        throttle.take(everyone, ["all"]),
    ]
    looked_up = throttle.take(per_reference, [_reference_key(reference) or "-"])
    if not (looked_up.allowed and all(t.allowed for t in failures)):
        raise TooManyAttempts("Too many phone line lookups; try again later.")
    summary = phone_summary(reference)  # NoBalance: the failures stay counted
    for taken in failures:
        throttle.give_back(taken)
    return summary
