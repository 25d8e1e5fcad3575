# ruff: noqa: E501  (the spoken phrases read better unbroken)
"""What the phone line says, in the caller's language. Pure: no database.

The sentences are in the project's catalogues (French msgids, translated like every other
text); what stays here is the grammar of reading them aloud: amounts as "12 euros 34" (and
"12 euros and 34 cents" in English), dates with the month's name (Django's translated month
names) and "1er" in French. RULES.md §10: balance, remaining emergency credit, date and amount
of the last top-up, supply status — nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import translation
from django.utils.dates import MONTHS
from django.utils.translation import gettext, gettext_noop

LANGUAGES = ("fr", "nl", "de", "en")

PHRASES: dict[str, str] = {
    "greeting": gettext_noop(
        "Bienvenue sur la ligne solde. Tapez les 13 chiffres de votre référence client : ce sont les 13 derniers chiffres de votre code EAN."
    ),
    "no_input": gettext_noop("Nous n'avons reçu aucun chiffre. Au revoir."),
    "balance": gettext_noop("Votre solde est de %(amount)s."),
    "balance_negative": gettext_noop("Votre solde est négatif : moins %(amount)s."),
    "emergency": gettext_noop("Crédit de secours restant : %(amount)s."),
    "last_topup": gettext_noop("Votre dernière recharge : %(amount)s, le %(date)s."),
    "no_topup": gettext_noop("Aucune recharge n'a encore été enregistrée."),
    "connected": gettext_noop("Votre alimentation est normale."),
    "disconnected": gettext_noop(
        "Votre alimentation est coupée. Elle sera rétablie dès que votre solde sera positif."
    ),
    "limited": gettext_noop(
        "Votre puissance est limitée. Elle sera rétablie dès que votre solde sera positif."
    ),
    "ready_for_reconnection": gettext_noop(
        "Votre compteur est prêt à être reconnecté : appuyez sur le bouton du compteur."
    ),
    "pending": gettext_noop("Votre compte de prépaiement n'est pas encore actif."),
    "closed": gettext_noop("Ce compte de prépaiement est clôturé."),
    "not_found": gettext_noop(
        "Nous ne trouvons pas cette référence client. Vérifiez les 13 derniers chiffres de votre code EAN et réessayez."
    ),
    "too_many": gettext_noop("Trop d'essais. Veuillez rappeler plus tard."),
}


@dataclass(frozen=True)
class PhoneSummary:
    """Everything the phone line may say about an account — and nothing more."""

    language: str
    state: str  # pending | active | closed
    balance_cents: int
    emergency_remaining_cents: int
    last_topup_on: date | None
    last_topup_cents: int | None
    supply: str  # connected | disconnected | limited | ready_for_reconnection


def language_or_default(language: str | None) -> str:
    language = (language or "").lower()[:2]
    return language if language in LANGUAGES else "fr"


def say_amount(cents: int, language: str) -> str:
    """1234 → "12 euros 34"; 100 → "1 euro"; 5 → "0 euro 05" (French way of reading)."""
    with translation.override(language):
        cents = abs(cents)
        euros, rest = divmod(cents, 100)
        # Singular up to 1 as French reads it; nl/de translate both forms to one word.
        unit = gettext("euro") if euros <= 1 else gettext("euros")
        if language == "en":
            text = f"{euros} {unit}"
            return f"{text} and {rest} cent{'s' if rest != 1 else ''}" if rest else text
        return f"{euros} {unit} {rest:02d}" if rest else f"{euros} {unit}"


def say_date(day: date, language: str) -> str:
    with translation.override(language):
        month = str(MONTHS[day.month])
    if language == "en":
        return f"{month} {day.day}, {day.year}"
    if language == "de":
        return f"{day.day}. {month} {day.year}"
    first = "1er" if language == "fr" and day.day == 1 else str(day.day)
    return f"{first} {month} {day.year}"


def speak(summary: PhoneSummary, language: str | None = None) -> str:
    """The sentences to read to the caller."""
    lang = language_or_default(language or summary.language)
    if summary.state in ("pending", "closed"):
        return say(summary.state, lang)
    amount = say_amount(summary.balance_cents, lang)
    lines = [
        say("balance_negative" if summary.balance_cents < 0 else "balance", lang, amount=amount),
        say("emergency", lang, amount=say_amount(summary.emergency_remaining_cents, lang)),
    ]
    if summary.last_topup_on is not None and summary.last_topup_cents is not None:
        lines.append(
            say(
                "last_topup",
                lang,
                amount=say_amount(summary.last_topup_cents, lang),
                date=say_date(summary.last_topup_on, lang),
            )
        )
    else:
        lines.append(say("no_topup", lang))
    lines.append(say(summary.supply if summary.supply in PHRASES else "connected", lang))
    return " ".join(lines)


def say(key: str, language: str | None, **values: str) -> str:
    """One sentence of PHRASES in the caller's language, its placeholders filled."""
    with translation.override(language_or_default(language)):
        text = gettext(PHRASES[key])
    return text % values if values else text
