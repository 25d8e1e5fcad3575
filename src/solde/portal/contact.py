"""The portal's only door to the notifications app's contact services.

Those services (set_contact_preferences, add_recipient, remove_recipient, history_for) are built
by the notifications work; until that is merged, `available()` is False and the pages say the
settings are coming instead of failing. The calls below are the one place to adjust if the
final signatures differ.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from solde.registry.models import Customer


def _services() -> ModuleType | None:
    try:
        module = importlib.import_module("solde.notifications.services")
    except ImportError:
        return None
    needed = ("set_contact_preferences", "add_recipient", "remove_recipient", "history_for")
    return module if all(hasattr(module, name) for name in needed) else None


def available() -> bool:
    return _services() is not None


def preferences(customer: Customer) -> dict[str, bool]:
    """The channels on for the customer (defaults: e-mail if an address is known, else letter)."""
    module = _services()
    pref = getattr(module, "contact_preferences", None)
    if pref is not None:
        p = pref(customer)
        return {"email": p.email, "sms": p.sms, "letter": p.letter}
    return {"email": bool(customer.email), "sms": False, "letter": not customer.email}


def set_preferences(customer: Customer, *, email: bool, sms: bool, letter: bool) -> None:
    """Raises django ValidationError (per field) when a channel lacks an address."""
    module = _services()
    assert module is not None
    # The portal does not edit which optional alerts are muted: keep them as they are.
    current = (
        module.contact_preferences(customer) if hasattr(module, "contact_preferences") else None
    )
    muted = list(getattr(current, "muted_kinds", None) or [])
    module.set_contact_preferences(customer, email=email, sms=sms, letter=letter, muted_kinds=muted)


def recipients(customer: Customer) -> list[Any]:
    related = getattr(customer, "extra_recipients", None) if available() else None
    return list(related.all()) if related is not None else []


def add_recipient(customer: Customer, *, name: str, email: str, phone: str) -> None:
    """Raises django ValidationError (per field) for a bad address or too many recipients."""
    module = _services()
    assert module is not None
    module.add_recipient(customer, name=name, email=email, phone=phone)


def remove_recipient(customer: Customer, recipient_id: int) -> None:
    """Raises ObjectDoesNotExist when the recipient is not the customer's."""
    module = _services()
    assert module is not None
    module.remove_recipient(customer, recipient_id)


def history(customer: Customer, ean: str | None = None) -> list[Any]:
    """What was sent to the customer and their recipients (entries with at, kind_label,
    channel_label, recipient, recipient_name, status_label, subject), newest first."""
    module = _services()
    if module is None:
        return []
    return list(module.history_for(customer, ean=ean))
