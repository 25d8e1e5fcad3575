"""Pure rules of customer communication: channels, quiet hours, retries, addresses, amounts."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from solde import clock

# SMS wait between 21:00 and 08:00 local (RULES.md §10).
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
# A worker that claimed a message and died leaves it claimed this long, then it is retried.
CLAIM_LEASE = timedelta(minutes=5)

# Kinds a customer cannot turn off: they ask for action or carry what is needed to act.
MANDATORY_KINDS = frozenset(
    {
        "activation_code_issued",
        "interruption_coming",
        "supply_interrupted",
        "limiter_on",
        "reconnection_ready",
    }
)
# Kinds never sent to extra recipients: the activation code is the customer's alone.
PRIVATE_KINDS = frozenset({"activation_code_issued"})
# Kinds whose text is for paper or e-mail only (a code by SMS would be read by anyone nearby).
NO_SMS_KINDS = frozenset({"activation_code_issued"})


def in_quiet_hours(instant: datetime) -> bool:
    t = clock.local(instant).time()
    return t >= QUIET_START or t < QUIET_END


def quiet_hours_end(instant: datetime) -> datetime:
    """The next 08:00 local at or after `instant` (DST-aware)."""
    local = clock.local(instant)
    day = local.date()
    if local.time() >= QUIET_START:
        day += timedelta(days=1)
    return clock.local_datetime(day, QUIET_END.hour, QUIET_END.minute)


def sms_send_at(instant: datetime) -> datetime:
    """When an SMS due at `instant` may leave: at once, or at the end of the night."""
    return quiet_hours_end(instant) if in_quiet_hours(instant) else instant


def backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 1, 2, 4, 8 … minutes, at most an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


# --- addresses ------------------------------------------------------------------------------

_PHONE_NOISE = re.compile(r"[\s.\-/()]")


def normalize_phone(text: str, *, for_sms: bool = False) -> str:
    """A phone number as E.164 (`+32470123456`). Belgian national numbers (`0470 12 34 56`)
    and `0032…` are accepted. Raises ValidationError with a sentence saying what to fix."""
    raw = _PHONE_NOISE.sub("", text or "")
    if not raw:
        raise ValidationError(_("Indiquez un numéro de téléphone."))
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif raw.startswith("0"):
        raw = "+32" + raw[1:]
    if not re.fullmatch(r"\+[1-9][0-9]{7,14}", raw):
        raise ValidationError(
            _(
                "« %(phone)s » n'est pas un numéro de téléphone valide : indiquez-le avec "
                "l'indicatif du pays, par exemple +32 470 12 34 56."
            )
            % {"phone": text}
        )
    if raw.startswith("+32"):
        national = raw[3:]
        # Mobile: 04xx xx xx xx (10 digits with the 0); landline: 0x xxx xx xx (9 digits),
        # Liège's 04 included.
        mobile = len(national) == 9 and national[0] == "4" and national[1] in "56789"
        if not mobile and len(national) != 8:
            raise ValidationError(
                _(
                    "Un numéro belge compte 10 chiffres pour un GSM (04xx xx xx xx) ou 9 pour "
                    "un fixe (0x xxx xx xx) : vérifiez « %(phone)s »."
                )
                % {"phone": text}
            )
        if not mobile and for_sms:
            raise ValidationError(
                _(
                    "« %(phone)s » est un numéro fixe : il ne peut pas recevoir de SMS. "
                    "Indiquez un numéro de GSM."
                )
                % {"phone": text}
            )
    return raw


def normalize_email(text: str) -> str:
    value = (text or "").strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError(
            _(
                "« %(email)s » n'est pas une adresse e-mail valide : vérifiez-la "
                "(exemple : prenom.nom@exemple.be)."
            )
            % {"email": text}
        ) from None
    # The domain part is case-insensitive; the local part is kept as typed.
    local, _sep, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


# --- amounts --------------------------------------------------------------------------------


def format_amount(cents: int, language: str) -> str:
    """Euros as a reader of `language` writes them: 1 234,56 € (fr), € 1.234,56 (nl),
    1.234,56 € (de), €1,234.56 (en)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    if language == "en":
        return f"{sign}€{euros:,}.{rest:02d}"
    group = " " if language == "fr" else "."
    whole = f"{euros:,}".replace(",", group)
    number = f"{sign}{whole},{rest:02d}"
    if language == "nl":
        return f"€ {number}"
    return f"{number} €"


# What a stored activation message shows where its code goes (the code's length, "PP" kept).
CODE_MASK = "PP" + "•" * 8


def reveal_code(text: str, code: str) -> str:
    """The text to send: the mask replaced by the code."""
    return text.replace(CODE_MASK, code)


def mask_code(text: str, code: str) -> str:
    """The text with the secret replaced by its first two characters and dots."""
    if not code:
        return text
    return text.replace(code, code[:2] + "•" * (len(code) - 2))


# Twilio's message statuses in the order they happen; the last three are final. Callbacks
# may arrive out of order or twice: a status never replaces a later one.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}


def delivery_status_applies(current: str, reported: str) -> bool:
    """Whether a reported provider status moves the message on from `current`."""
    if reported not in DELIVERY_RANK:
        return False
    if not current:
        return True
    return DELIVERY_RANK.get(current, 0) < DELIVERY_RANK[reported]
