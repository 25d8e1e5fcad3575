# ruff: noqa: E501  (the spoken phrases read better unbroken)
"""What the phone line says, in the caller's language. Pure: no database.

The prompts live here rather than in the .po catalogues because spoken text is built from
grammar, not only words: amounts are read as "12 euros 34", dates with the month's name, and the
singular/plural rules differ per language. RULES.md §10: balance, remaining emergency credit,
date and amount of the last top-up, supply status — nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

LANGUAGES = ("fr", "nl", "de", "en")

MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

PHRASES: dict[str, dict[str, str]] = {
    "fr": {
        "greeting": "Bienvenue sur la ligne solde. Tapez les 13 chiffres de votre référence client : ce sont les 13 derniers chiffres de votre code EAN.",
        "no_input": "Nous n'avons reçu aucun chiffre. Au revoir.",
        "balance": "Votre solde est de {amount}.",
        "balance_negative": "Votre solde est négatif : moins {amount}.",
        "emergency": "Crédit de secours restant : {amount}.",
        "last_topup": "Votre dernière recharge : {amount}, le {date}.",
        "no_topup": "Aucune recharge n'a encore été enregistrée.",
        "connected": "Votre alimentation est normale.",
        "disconnected": "Votre alimentation est coupée. Elle sera rétablie dès que votre solde sera positif.",
        "limited": "Votre puissance est limitée. Elle sera rétablie dès que votre solde sera positif.",
        "ready_for_reconnection": "Votre compteur est prêt à être reconnecté : appuyez sur le bouton du compteur.",
        "pending": "Votre compte de prépaiement n'est pas encore actif.",
        "closed": "Ce compte de prépaiement est clôturé.",
        "not_found": "Nous ne trouvons pas cette référence client. Vérifiez les 13 derniers chiffres de votre code EAN et réessayez.",
        "too_many": "Trop d'essais. Veuillez rappeler plus tard.",
        "euro": "euro",
        "euros": "euros",
        "minus": "moins",
    },
    "nl": {
        "greeting": "Welkom bij de saldolijn. Toets de 13 cijfers van uw klantreferentie in: dat zijn de laatste 13 cijfers van uw EAN-code.",
        "no_input": "We hebben geen cijfers ontvangen. Tot ziens.",
        "balance": "Uw saldo bedraagt {amount}.",
        "balance_negative": "Uw saldo is negatief: min {amount}.",
        "emergency": "Resterend noodkrediet: {amount}.",
        "last_topup": "Uw laatste oplading: {amount}, op {date}.",
        "no_topup": "Er is nog geen oplading geregistreerd.",
        "connected": "Uw levering is normaal.",
        "disconnected": "Uw levering is onderbroken. Ze wordt hersteld zodra uw saldo positief is.",
        "limited": "Uw vermogen is beperkt. Het wordt hersteld zodra uw saldo positief is.",
        "ready_for_reconnection": "Uw meter is klaar om opnieuw aan te sluiten: druk op de knop van de meter.",
        "pending": "Uw budgetrekening is nog niet actief.",
        "closed": "Deze budgetrekening is afgesloten.",
        "not_found": "We vinden deze klantreferentie niet. Controleer de laatste 13 cijfers van uw EAN-code en probeer opnieuw.",
        "too_many": "Te veel pogingen. Bel later opnieuw.",
        "euro": "euro",
        "euros": "euro",
        "minus": "min",
    },
    "de": {
        "greeting": "Willkommen beim Guthabentelefon. Geben Sie die 13 Ziffern Ihrer Kundenreferenz ein: die letzten 13 Ziffern Ihres EAN-Codes.",
        "no_input": "Wir haben keine Ziffern erhalten. Auf Wiederhören.",
        "balance": "Ihr Guthaben beträgt {amount}.",
        "balance_negative": "Ihr Guthaben ist negativ: minus {amount}.",
        "emergency": "Verbleibender Notkredit: {amount}.",
        "last_topup": "Ihre letzte Aufladung: {amount}, am {date}.",
        "no_topup": "Es wurde noch keine Aufladung registriert.",
        "connected": "Ihre Versorgung ist normal.",
        "disconnected": "Ihre Versorgung ist unterbrochen. Sie wird wiederhergestellt, sobald Ihr Guthaben positiv ist.",
        "limited": "Ihre Leistung ist begrenzt. Sie wird wiederhergestellt, sobald Ihr Guthaben positiv ist.",
        "ready_for_reconnection": "Ihr Zähler ist bereit zur Wiederverbindung: Drücken Sie die Taste am Zähler.",
        "pending": "Ihr Vorauszahlungskonto ist noch nicht aktiv.",
        "closed": "Dieses Vorauszahlungskonto ist geschlossen.",
        "not_found": "Wir finden diese Kundenreferenz nicht. Prüfen Sie die letzten 13 Ziffern Ihres EAN-Codes und versuchen Sie es erneut.",
        "too_many": "Zu viele Versuche. Bitte rufen Sie später wieder an.",
        "euro": "Euro",
        "euros": "Euro",
        "minus": "minus",
    },
    "en": {
        "greeting": "Welcome to the balance line. Key in the 13 digits of your customer reference: the last 13 digits of your EAN code.",
        "no_input": "We received no digits. Goodbye.",
        "balance": "Your balance is {amount}.",
        "balance_negative": "Your balance is negative: minus {amount}.",
        "emergency": "Emergency credit remaining: {amount}.",
        "last_topup": "Your last top-up: {amount}, on {date}.",
        "no_topup": "No top-up has been recorded yet.",
        "connected": "Your supply is normal.",
        "disconnected": "Your supply is cut off. It will be restored as soon as your balance is positive.",
        "limited": "Your power is limited. It will be restored as soon as your balance is positive.",
        "ready_for_reconnection": "Your meter is ready to be reconnected: press the button on the meter.",
        "pending": "Your prepayment account is not active yet.",
        "closed": "This prepayment account is closed.",
        "not_found": "We cannot find this customer reference. Check the last 13 digits of your EAN code and try again.",
        "too_many": "Too many attempts. Please call again later.",
        "euro": "euro",
        "euros": "euros",
        "minus": "minus",
    },
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
    p = PHRASES[language]
    cents = abs(cents)
    euros, rest = divmod(cents, 100)
    unit = p["euro"] if euros <= 1 else p["euros"]
    if language == "en":
        text = f"{euros} {unit}"
        return f"{text} and {rest} cent{'s' if rest != 1 else ''}" if rest else text
    return f"{euros} {unit} {rest:02d}" if rest else f"{euros} {unit}"


def say_date(day: date, language: str) -> str:
    month = MONTHS[language][day.month - 1]
    if language == "en":
        return f"{month} {day.day}, {day.year}"
    if language == "de":
        return f"{day.day}. {month} {day.year}"
    first = "1er" if language == "fr" and day.day == 1 else str(day.day)
    return f"{first} {month} {day.year}"


def speak(summary: PhoneSummary, language: str | None = None) -> str:
    """The sentences to read to the caller."""
    lang = language_or_default(language or summary.language)
    p = PHRASES[lang]
    if summary.state == "pending":
        return p["pending"]
    if summary.state == "closed":
        return p["closed"]
    amount = say_amount(summary.balance_cents, lang)
    lines = [
        p["balance_negative" if summary.balance_cents < 0 else "balance"].format(amount=amount),
        p["emergency"].format(amount=say_amount(summary.emergency_remaining_cents, lang)),
    ]
    if summary.last_topup_on is not None and summary.last_topup_cents is not None:
        lines.append(
            p["last_topup"].format(
                amount=say_amount(summary.last_topup_cents, lang),
                date=say_date(summary.last_topup_on, lang),
            )
        )
    else:
        lines.append(p["no_topup"])
    lines.append(p.get(summary.supply, p["connected"]))
    return " ".join(lines)


def say(key: str, language: str | None) -> str:
    return PHRASES[language_or_default(language)][key]
