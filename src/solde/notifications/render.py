"""Events → message texts in the reader's language (no database writes here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext

from solde import clock
from solde.notifications import rules
from solde.notifications.models import Event
from solde.notifications.texts import (
    BUTTON,
    ENERGY_WORD,
    FOOTER,
    GREETING,
    ON_BEHALF,
    SIGNATURE,
    SMS_ON_BEHALF,
    TEXTS,
)

# Made-up demo account; production sets SOLDE_TRANSFER_IBAN through settings.TRANSFER_IBAN.
DEFAULT_IBAN = "BE71 0961 2345 6769"


@dataclass(frozen=True)
class Facts:
    """What an event's text needs beyond its payload, loaded set-based by the caller."""

    balance_cents: int | None
    emergency_limit_cents: int


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _amount(cents: int | None, language: str) -> str:
    return rules.format_amount(cents, language) if cents is not None else "—"


def context_for(event: Event, facts: Facts, language: str) -> dict[str, str]:
    """Every placeholder of the texts, formatted for `language` (call under its override)."""
    sp = event.supply_point
    dso = sp.dso
    payload = event.payload or {}
    balance = payload.get("balance_cents", facts.balance_cents)
    limit = facts.emergency_limit_cents
    if "emergency_remaining_cents" in payload:
        emergency = payload["emergency_remaining_cents"]
    elif balance is not None:
        emergency = max(limit + min(balance, 0), 0)
    else:
        emergency = None
    need = payload.get("need_cents", max(-balance, 0) if balance is not None else None)
    expires = payload.get("expires_on")
    expires_on = (
        date.fromisoformat(expires)
        if expires
        else clock.local_date(event.occurred_at) + timedelta(days=dso.activation_code_days)
    )
    return {
        "ean": sp.ean,
        "reference": sp.customer_reference,
        "ogm": sp.structured_communication or "",
        "address": sp.address,
        "energy": gettext(ENERGY_WORD.get(sp.energy, sp.energy)),
        "button": gettext(BUTTON.get(sp.energy, BUTTON["electricity"])),
        "balance": _amount(balance, language),
        "emergency": _amount(emergency, language),
        "need": _amount(need, language),
        "amount": _amount(payload.get("amount_cents"), language),
        "advance": _amount(payload.get("advance_cents", dso.advance_cents(sp.energy)), language),
        "recovery": _amount(dso.advance_recovery_cents_per_day, language),
        "amps": str(payload.get("amps", dso.limiter_amps)),
        # Never the code itself: stored bodies hold this mask, and the sender puts the code
        # (opened from the event's sealed copy) in its place only in what it sends.
        "code": rules.CODE_MASK,
        "expires": formats.date_format(expires_on, "DATE_FORMAT"),
        "site": settings.SITE_URL,
        "iban": getattr(settings, "TRANSFER_IBAN", "") or DEFAULT_IBAN,
        "dso": dso.name,
        "when": _when(payload.get("at")),
    }


def _when(iso: str | None) -> str:
    """A local date and time in the active language, e.g. "30 novembre 2026 08:00"."""
    if not iso:
        return ""
    try:
        instant = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return ""
    local = clock.local(instant)
    return f"{formats.date_format(local, 'DATE_FORMAT')} {local:%H:%M}"


def render(
    event: Event,
    facts: Facts,
    channel: str,
    language: str,
    reader_name: str,
    on_behalf_of: str = "",
) -> Rendered:
    """The subject and body of one message. `on_behalf_of` names the customer when the reader
    is an extra recipient."""
    text = TEXTS[event.kind]
    with translation.override(language):
        ctx = context_for(event, facts, language)
        subject = gettext(text.subject) % ctx
        if channel == "sms":
            body = gettext(text.sms) % ctx
            if on_behalf_of:
                body = gettext(SMS_ON_BEHALF) % {"customer": on_behalf_of, "text": body}
            return Rendered(subject=subject, body=body)
        parts = [gettext(GREETING) % {"name": reader_name}]
        if on_behalf_of:
            parts.append(gettext(ON_BEHALF) % {"customer": on_behalf_of})
        paragraphs = list(text.paragraphs)
        if text.when_paragraph and ctx["when"]:
            paragraphs[1] = text.when_paragraph
        parts += [gettext(p) % ctx for p in paragraphs]
        parts.append(f"{gettext(SIGNATURE)}\n{ctx['dso']}")
        parts.append("-- \n" + gettext(FOOTER) % ctx)
        return Rendered(subject=subject, body="\n\n".join(parts))


def kind_label(kind: str) -> str:
    text = TEXTS.get(kind)
    return gettext(text.label) if text else kind


def email_html(subject: str, body: str, language: str) -> str:
    """The HTML part of an e-mail, from its plain-text body (the same words, one paragraph per
    blank-line-separated block, links clickable, the "-- " signature block as a footer)."""
    from django.template.loader import render_to_string

    text, _sep, footer = body.partition("\n\n-- \n")
    return render_to_string(
        "notifications/email.html",
        {
            "language": language,
            "subject": subject,
            "paragraphs": [p for p in text.split("\n\n") if p.strip()],
            "footer": footer.strip(),
        },
    )
