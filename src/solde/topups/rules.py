"""Pure top-up rules (RULES.md §8): amounts per channel, source keys, reference matching."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from solde.identifiers import is_valid_ean, normalize_reference, parse_structured_communication
from solde.money import InvalidAmount, format_eur, parse_eur

MIN_CENTS = 500
MAX_CENTS = 25_000
# Online, terminals, shops and CPAS: 5–250 € per payment. CPAS follows the shops' limits: a
# social service paying more (a debt plan) does it by bank transfer, which takes any amount.
LIMITED_CHANNELS = ("online", "terminal", "retail", "cpas")
PARTNER_CANCEL_MINUTES = 15


class AmountRefused(ValueError):
    """An amount a channel does not take; the message says what is allowed."""


def check_amount(channel: str, cents: int) -> int:
    if channel == "manual":
        if cents == 0:
            raise AmountRefused(
                _("Un ajustement de 0,00 € ne change rien : introduisez un montant.")
            )
        return cents
    if cents <= 0:
        raise AmountRefused(_("Le montant d'une recharge doit être positif."))
    if channel in LIMITED_CHANNELS and not MIN_CENTS <= cents <= MAX_CENTS:
        raise AmountRefused(
            _("Une recharge par ce canal est comprise entre %(min)s et %(max)s €.")
            % {"min": format_eur(MIN_CENTS), "max": format_eur(MAX_CENTS)}
        )
    return cents


def parse_amount(channel: str, text: str) -> int:
    """'20.00' → 2000 for `channel`; anything else raises AmountRefused with a sentence."""
    try:
        cents = parse_eur(text)
    except InvalidAmount as exc:
        raise AmountRefused(
            'The amount must be a number of euros with at most 2 decimals, like "20.00".'
        ) from exc
    return check_amount(channel, cents)


def source_key(channel: str, external_id: str, partner_id: int | None = None) -> str:
    """Unique per outside transaction. A partner's ids are its own (two partners may reuse
    one) and scoped to the partner whatever the channel it sends (API.md: per partner key)."""
    if partner_id is not None:
        return f"partner:{partner_id}:{external_id}"
    return f"{channel}:{external_id}"


def reference_kind(text: str) -> tuple[str, str] | None:
    """('customer_reference' | 'ean', digits) for what a payer typed, or None."""
    ref = normalize_reference(text)
    if not ref.isdigit():
        return None
    if len(ref) == 13:
        return "customer_reference", ref
    if len(ref) == 18 and is_valid_ean(ref):
        return "ean", ref
    return None


_OGM_SHAPE = re.compile(
    r"(?:\+{3}|\*{3})?\s*(\d{3})\s*/\s*(\d{4})\s*/\s*(\d{5})\s*(?:\+{3}|\*{3})?"
)
_DIGIT_RUN = re.compile(r"\d[\d .\-]{11,40}\d")


def find_structured_communication(text: str) -> tuple[str | None, bool]:
    """(canonical OGM, looked like one) in a bank line's text.

    A text shaped like an OGM with a wrong check digit gives (None, True): the caller must
    send the money to suspense rather than guess a customer from other digits.
    """
    text = text or ""
    candidates = ["".join(m.groups()) for m in _OGM_SHAPE.finditer(text)]
    bare = re.sub(r"[\s+*/]", "", text)
    if not candidates and len(bare) == 12 and bare.isdigit():
        candidates = [bare]
    for digits in candidates:
        ogm = parse_structured_communication(digits)
        if ogm:
            return ogm, True
    return None, bool(candidates)


def find_references(text: str) -> set[tuple[str, str]]:
    """Every customer reference (13 digits) or valid EAN (18) written in a free text, with the
    spaces, dots and dashes people put in them."""
    found: set[tuple[str, str]] = set()
    for m in _DIGIT_RUN.finditer(text or ""):
        # "ref 880 0000 000 017 20.00": try every run of consecutive space-separated groups.
        parts = m.group().split()
        for i in range(len(parts)):
            for j in range(i + 1, len(parts) + 1):
                kind = reference_kind("".join(parts[i:j]))
                if kind:
                    found.add(kind)
    return found
