from __future__ import annotations

from django import template
from django.utils.translation import get_language

from solde.notifications.rules import format_amount

register = template.Library()


@register.filter
def eur(cents: int | None) -> str:
    """Cents as the reader's language writes euros."""
    if cents is None:
        return "—"
    return format_amount(int(cents), (get_language() or "fr")[:2])


@register.filter
def get(mapping: dict, key):
    return mapping.get(key) if mapping else None
