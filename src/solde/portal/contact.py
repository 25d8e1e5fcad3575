"""The portal's door to the notifications app's contact services: channel preferences, extra
recipients and the history of what was sent."""

from __future__ import annotations

from typing import Any

from solde.notifications import services
from solde.registry.models import Customer


def preferences(customer: Customer) -> dict[str, bool]:
    """The channels on for the customer (saved, or the defaults)."""
    p = services.contact_preferences(customer)
    return {"email": p.email, "sms": p.sms, "letter": p.letter}


def set_preferences(customer: Customer, *, email: bool, sms: bool, letter: bool) -> None:
    """Raises django ValidationError (per field) when a channel lacks an address."""
    # The portal does not edit which optional alerts are muted: keep them as they are.
    muted = list(services.contact_preferences(customer).muted_kinds or [])
    services.set_contact_preferences(
        customer, email=email, sms=sms, letter=letter, muted_kinds=muted
    )


def recipients(customer: Customer) -> list[Any]:
    return list(customer.extra_recipients.all())  # type: ignore[attr-defined]


def add_recipient(customer: Customer, *, name: str, email: str, phone: str) -> None:
    """Raises django ValidationError (per field) for a bad address or too many recipients."""
    services.add_recipient(customer, name=name, email=email, phone=phone)


def remove_recipient(customer: Customer, recipient_id: int) -> None:
    """Raises ObjectDoesNotExist when the recipient is not the customer's."""
    services.remove_recipient(customer, recipient_id)


def history(customer: Customer, ean: str | None = None) -> list[Any]:
    """What was sent to the customer and their recipients (entries with at, kind_label,
    channel_label, recipient, recipient_name, status_label, subject), newest first."""
    return list(services.history_for(customer, ean=ean))
