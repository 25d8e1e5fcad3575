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
    pref = getattr(customer, "contact_preference", None) if available() else None
    if pref is not None:
        return {"email": pref.email, "sms": pref.sms, "letter": pref.letter}
    return {"email": bool(customer.email), "sms": False, "letter": not customer.email}


def set_preferences(customer: Customer, *, email: bool, sms: bool, letter: bool) -> None:
    module = _services()
    assert module is not None
    module.set_contact_preferences(customer, email=email, sms=sms, letter=letter)


def recipients(customer: Customer) -> list[Any]:
    if not available():
        return []
    return list(customer.extra_recipients.all())  # type: ignore[attr-defined]


def add_recipient(customer: Customer, *, name: str, email: str, phone: str) -> None:
    module = _services()
    assert module is not None
    module.add_recipient(customer, name=name, email=email, phone=phone)


def remove_recipient(customer: Customer, recipient_id: int) -> None:
    module = _services()
    assert module is not None
    module.remove_recipient(customer, recipient_id)


def history(customer: Customer, supply_point=None) -> list[Any]:
    module = _services()
    if module is None:
        return []
    return list(module.history_for(customer, supply_point=supply_point))
