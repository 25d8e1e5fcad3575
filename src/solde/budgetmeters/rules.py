"""Reading a budget-meter migration file: columns, values, line problems. Pure: no database.

Each problem has a stable `code` (what tests and the console key on) and a sentence in the
active language (gettext, French reference) that says what to fix.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from solde.identifiers import InvalidIdentifier, validate_ean

MAX_LINES = 200_000  # a DSO's whole budget-meter fleet (Wallonia: about 100,000)
MAX_BALANCE_CENTS = 1_000_000  # ±10,000 €: a card meter never held more; above is a typo

REQUIRED = (
    "ean",
    "last_name",
    "street",
    "postcode",
    "city",
    "language",
    "energy",
    "tariff_category",
    "protected",
    "balance_eur",
    "meter_placed_on",
    "meter_serial",
    "supplier",
)
OPTIONAL = ("first_name", "number", "email", "phone", "registers")
COLUMNS = REQUIRED + OPTIONAL

ENERGIES = {
    "electricity": "electricity",
    "e": "electricity",
    "elec": "electricity",
    "électricité": "electricity",
    "electricite": "electricity",
    "elektriciteit": "electricity",
    "strom": "electricity",
    "gas": "gas",
    "g": "gas",
    "gaz": "gas",
}
CATEGORIES = {"social": "social", "average": "average", "moyen": "average"}
YES = {"yes", "y", "true", "1", "oui", "ja"}
NO = {"no", "n", "false", "0", "non", "nee", "nein", ""}
LANGUAGES = ("fr", "nl", "de", "en")
DEFAULT_REGISTERS = {"electricity": ["1.8.1", "1.8.2"], "gas": ["24.2.3"]}
_AMOUNT = re.compile(r"^([+-]?)(\d{1,7})(?:[.,](\d{1,2}))?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MigrationFileError(ValueError):
    """The file as a whole cannot be read (encoding, header): nothing is checked further."""


@dataclass
class Problem:
    code: str  # stable id: bad_ean, bad_check_digit, unknown_ean, bad_amount, duplicate_ean…
    column: str
    message: str


@dataclass
class Row:
    """One line of the file, its values parsed; `problems` empty when it can be migrated."""

    line: int
    raw: dict[str, str]
    ean: str = ""
    first_name: str = ""
    last_name: str = ""
    street: str = ""
    number: str = ""
    postcode: str = ""
    city: str = ""
    language: str = "fr"
    email: str = ""
    phone: str = ""
    energy: str = ""
    tariff_category: str = ""
    protected: bool = False
    balance_cents: int = 0
    meter_placed_on: date | None = None
    meter_serial: str = ""
    supplier: str = ""
    registers: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def refuse(self, code: str, column: str, message: str) -> None:
        self.problems.append(Problem(code, column, message))

    @property
    def customer_key(self) -> tuple[str, ...]:
        """Lines of one household (electricity and gas) share a customer and a letter."""
        return (
            self.last_name.casefold(),
            self.first_name.casefold(),
            self.email.casefold(),
            self.street.casefold(),
            self.number.casefold(),
            self.postcode,
        )


def read_rows(data: bytes) -> list[Row]:
    """Every line of the file as a Row (line numbers as a spreadsheet shows them: the header is
    line 1). Raises MigrationFileError when the file cannot be read at all."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MigrationFileError(
            _("Le fichier n'est pas en UTF-8 : enregistrez-le en UTF-8 (CSV).")
        ) from None
    if "\x00" in text:
        raise MigrationFileError(
            _("Le fichier contient des caractères nuls : envoyez un CSV texte.")
        )
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise MigrationFileError(_("Le fichier est vide.")) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise MigrationFileError(
            _("Colonnes manquantes : %(columns)s (voir docs/migration.md).")
            % {"columns": ", ".join(missing)}
        )
    rows = []
    for number, values in enumerate(reader, start=2):
        if number > MAX_LINES + 1:
            raise MigrationFileError(
                _("Plus de %(max)s lignes : découpez le fichier.") % {"max": MAX_LINES}
            )
        if not any(v.strip() for v in values):
            continue  # a blank line (spreadsheets add them at the end)
        raw = {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}
        row = Row(line=number, raw=raw)
        if len(values) != len(header):
            row.refuse(
                "malformed",
                "",
                _("La ligne a %(got)s colonnes au lieu de %(want)s.")
                % {"got": len(values), "want": len(header)},
            )
        else:
            parse_row(row)
        rows.append(row)
    return rows


def parse_row(row: Row) -> None:
    """Fill the row's values from its raw text, noting every problem (not just the first)."""
    raw = row.raw
    try:
        row.ean = validate_ean(raw["ean"])
    except InvalidIdentifier:
        row.ean = raw["ean"]
        digits = raw["ean"].isdigit() and len(raw["ean"]) == 18 and raw["ean"].startswith("54")
        if digits:
            row.refuse(
                "bad_check_digit",
                "ean",
                _("Le chiffre de contrôle de l'EAN %(ean)s est faux : vérifiez les 18 chiffres.")
                % {"ean": raw["ean"]},
            )
        else:
            row.refuse(
                "bad_ean",
                "ean",
                _("« %(ean)s » n'est pas un EAN belge (18 chiffres commençant par 54).")
                % {"ean": raw["ean"]},
            )
    for name in ("first_name", "last_name", "street", "number", "postcode", "city", "phone"):
        setattr(row, name, raw.get(name, ""))
    limits = {
        "first_name": 100,
        "last_name": 100,
        "street": 200,
        "number": 20,
        "postcode": 10,
        "city": 100,
        "phone": 30,
        "email": 254,
        "meter_serial": 40,
        "supplier": 40,
    }
    for name in ("last_name", "street", "postcode", "city"):
        if not raw.get(name):
            row.refuse("missing", name, _("La colonne %(column)s est vide.") % {"column": name})
    for name, limit in limits.items():
        if len(raw.get(name, "")) > limit:
            row.refuse(
                "too_long",
                name,
                _("%(column)s a plus de %(max)s caractères.") % {"column": name, "max": limit},
            )
        if any(ord(ch) < 32 for ch in raw.get(name, "")):
            row.refuse(
                "control_characters",
                name,
                _("%(column)s contient des caractères de contrôle.") % {"column": name},
            )
    row.email = raw.get("email", "")
    if row.email and not _EMAIL.match(row.email):
        row.refuse("bad_email", "email", _("L'adresse e-mail n'est pas valable."))
    language = raw["language"].lower()
    if language not in LANGUAGES:
        row.refuse(
            "bad_language",
            "language",
            _("Langue « %(value)s » inconnue : fr, nl, de ou en.") % {"value": raw["language"]},
        )
    else:
        row.language = language
    energy = ENERGIES.get(raw["energy"].lower())
    if energy is None:
        row.refuse(
            "bad_energy",
            "energy",
            _("Énergie « %(value)s » inconnue : electricity ou gas.") % {"value": raw["energy"]},
        )
    else:
        row.energy = energy
    category = CATEGORIES.get(raw["tariff_category"].lower())
    if category is None:
        row.refuse(
            "bad_category",
            "tariff_category",
            _("Catégorie tarifaire « %(value)s » inconnue : social ou average.")
            % {"value": raw["tariff_category"]},
        )
    else:
        row.tariff_category = category
    protected = raw["protected"].lower()
    if protected in YES:
        row.protected = True
    elif protected not in NO:
        row.refuse(
            "bad_protected",
            "protected",
            _("Statut protégé « %(value)s » illisible : yes ou no.") % {"value": raw["protected"]},
        )
    cents = parse_amount(raw["balance_eur"])
    if cents is None:
        row.refuse(
            "bad_amount",
            "balance_eur",
            _(
                "Montant « %(value)s » illisible : des euros avec au plus 2 décimales, négatif "
                "pour une dette (ex. 12,50 ou -30.00)."
            )
            % {"value": raw["balance_eur"]},
        )
    elif abs(cents) > MAX_BALANCE_CENTS:
        row.refuse(
            "implausible_amount",
            "balance_eur",
            _("Montant « %(value)s » invraisemblable pour un compteur à budget.")
            % {"value": raw["balance_eur"]},
        )
    else:
        row.balance_cents = cents
    row.meter_placed_on = parse_date(raw["meter_placed_on"])
    if row.meter_placed_on is None:
        row.refuse(
            "bad_date",
            "meter_placed_on",
            _("Date « %(value)s » illisible : AAAA-MM-JJ ou JJ/MM/AAAA.")
            % {"value": raw["meter_placed_on"]},
        )
    row.meter_serial = raw["meter_serial"]
    if not row.meter_serial:
        row.refuse(
            "missing",
            "meter_serial",
            _("La colonne %(column)s est vide.") % {"column": "meter_serial"},
        )
    row.supplier = raw["supplier"]
    if not row.supplier:
        row.refuse(
            "missing", "supplier", _("La colonne %(column)s est vide.") % {"column": "supplier"}
        )
    if row.energy:
        text = raw.get("registers", "")
        row.registers = text.replace(",", " ").split() if text else DEFAULT_REGISTERS[row.energy]


def parse_amount(text: str) -> int | None:
    """Euros as written in a Belgian spreadsheet ("12,50", "-30.00", "€ 7") → cents."""
    cleaned = text.replace("€", "").replace(" ", "").replace("\u00a0", "")
    match = _AMOUNT.match(cleaned)
    if not match:
        return None
    sign, units, decimals = match.groups()
    cents = int(units) * 100 + int((decimals or "0").ljust(2, "0"))
    return -cents if sign == "-" else cents


def parse_date(text: str) -> date | None:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            d, m, y = (int(p) for p in text.split("/"))
            return date(y, m, d)
    except ValueError:
        return None
    return None
