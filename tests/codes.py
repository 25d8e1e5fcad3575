"""The activation code a customer was sent, for tests: opened from the event's sealed copy (the
database never holds it in clear), or read from what was sent."""

from __future__ import annotations

import re

from solde import sealed
from solde.identifiers import ACTIVATION_ALPHABET

CODE = re.compile(rf"\bPP[{ACTIVATION_ALPHABET}]{{8}}\b")


def issued_code(sp) -> str:
    """The latest code issued to supply point `sp`, before its messages are sent."""
    from solde.notifications.models import Event

    event = Event.objects.filter(supply_point=sp, kind="activation_code_issued").latest("pk")
    return sealed.unseal(event.payload["code_sealed"])


def code_in(text: str) -> str:
    """The activation code in what the customer received (an e-mail, a letter's text)."""
    found = CODE.search(text)
    assert found, "no activation code in the text"
    return found.group(0)
