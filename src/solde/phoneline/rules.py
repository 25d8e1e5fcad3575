# ruff: noqa: E501  (the spoken phrases read better unbroken)
"""What the phone line says, in the caller's language. Pure: no database.

The sentences are in the project's catalogues (French msgids, translated like every other
text); what stays here is the grammar of reading them aloud: amounts as "12 euros 34" (and
"12 euros and 34 cents" in English), dates with the month's name (Django's translated month
names) and "1er" in French. Issue 11 (over RULES.md §10, which also lists the last top-up and
the supply status): the balance and the remaining emergency credit — nothing else; an unknown,
pending or closed reference all get the one `not_found` sentence (docs/phoneline.md).
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
    "not_found": gettext_noop(
        "Nous ne trouvons pas cette référence client. Vérifiez les 13 derniers chiffres de votre code EAN et réessayez."
    ),
    "too_many": gettext_noop("Trop d'essais. Veuillez rappeler plus tard."),
}


@dataclass(frozen=True)
class PhoneSummary:
    """Everything the phone line may say about an account — and nothing more."""

    language: str  # the customer's: the language the balance is read in
    balance_cents: int
    emergency_remaining_cents: int


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
    """The sentences to read to the caller: the balance and the remaining emergency credit."""
    lang = language_or_default(language or summary.language)
    amount = say_amount(summary.balance_cents, lang)
    return " ".join(
        [
            say(
                "balance_negative" if summary.balance_cents < 0 else "balance", lang, amount=amount
            ),
            say("emergency", lang, amount=say_amount(summary.emergency_remaining_cents, lang)),
        ]
    )


def say(key: str, language: str | None, **values: str) -> str:
    """One sentence of PHRASES in the caller's language, its placeholders filled."""
    with translation.override(language_or_default(language)):
        text = gettext(PHRASES[key])
    return text % values if values else text
