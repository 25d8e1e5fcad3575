"""Money is integer cents; prices and energy are exact Decimals (or Fractions inside a sum)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

Cents = int

_EUR = re.compile(r"^-?[0-9]{1,9}(\.[0-9]{1,2})?$")  # ASCII digits only: "２０" is no amount


class InvalidAmount(ValueError):
    pass


def parse_eur(text: str | Decimal | int) -> Cents:
    """'12.34' → 1234. At most 2 decimals; anything else is refused, never rounded."""
    if isinstance(text, Decimal):
        text = format(text, "f")
    text = str(text).strip()
    if not _EUR.match(text):
        raise InvalidAmount(f"'{text}' is not an amount in euros with at most 2 decimals.")
    return int((Decimal(text) * 100).to_integral_exact())


def format_eur(cents: Cents) -> str:
    """1234 → '12.34', -310 → '-3.10' (the API's money format)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def round_half_up(value: Fraction | Decimal) -> int:
    """Round an exact euro-cents quantity to whole cents, half away from zero."""
    if isinstance(value, Fraction):
        n, d = value.numerator, value.denominator
        q, r = divmod(abs(n), d)
        if 2 * r >= d:
            q += 1
        return q if n >= 0 else -q
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def eur_to_cents_exact(eur: Fraction | Decimal) -> Cents:
    """An exact euro amount (e.g. Σ kWh × price) rounded once to the cent, half up."""
    return round_half_up(Fraction(eur) * 100)
