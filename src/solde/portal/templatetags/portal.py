"""Display helpers: euros from cents, kWh, in the active language's number format."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def eur(cents: int | None) -> str:
    """1234 → '12,34 €' (fr/nl/de) or '12.34 €' (en). Display only: cents stay integers."""
    if cents is None:
        return "—"
    value = Decimal(int(cents)) / 100
    return f"{number_format(value, 2, use_l10n=True)}\u00a0€"


@register.filter
def kwh(value) -> str:
    if value is None:
        return "—"
    return f"{number_format(Decimal(str(value)), 1, use_l10n=True)}\u00a0kWh"


@register.filter
def eur_input(cents: int | None) -> str:
    """Cents as a form value: 1000 → '10', 750 → '7,50'."""
    if cents is None:
        return ""
    whole, rest = divmod(int(cents), 100)
    return f"{whole}" if rest == 0 else f"{whole},{rest:02d}"
