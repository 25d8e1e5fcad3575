"""Strict field types for the API's input schemas.

Pydantic's default (lax) mode coerces: `0` becomes the date 1970-01-01, `"1700000000"` an
instant, `"yes"` or `1` a boolean, `"１２"` (full-width digits) or `"1e5"` a decimal. API.md says
what each field is on the wire — dates and instants are ISO 8601 text, money and energy decimal
strings in ASCII digits — so anything else is refused with a 422 naming the field, before a view
runs (nothing is written).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool, StrictFloat, WithJsonSchema

from solde import clock

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})"
)


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for the error sentence."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "text"


def _day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # built in Python (tests, services), not read from JSON
    if not isinstance(value, str):
        raise ValueError(f'must be a date as text, "YYYY-MM-DD", not a {_json_type(value)}')
    if not _DAY.fullmatch(value):
        raise ValueError(f"'{value[:40]}' is not a date; use YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a day of the calendar") from None
    if not clock.in_calendar(day):
        raise ValueError(f"give a day between {clock.FIRST_DAY} and {clock.LAST_DAY}")
    return day


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        instant = value
    elif not isinstance(value, str):
        raise ValueError(
            "must be an instant as text with its offset, e.g. "
            f'"2026-11-28T00:00:00+01:00", not a {_json_type(value)}'
        )
    elif not _INSTANT.fullmatch(value):
        raise ValueError(
            f"'{value[:40]}' is not an instant with an offset, e.g. 2026-11-28T00:00:00+01:00"
        )
    else:
        try:
            instant = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"'{value}' is not an instant of the calendar") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("give the instant with its offset, e.g. +01:00")
    if not clock.in_calendar(instant.date()):
        raise ValueError(f"give an instant between {clock.FIRST_DAY} and {clock.LAST_DAY}")
    return instant


# A local day, "YYYY-MM-DD", within the platform's calendar (2000–2099).
Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-11-28"}),
]

# An instant with its offset, "2026-11-28T00:00:00+01:00".
Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-11-28T00:00:00+01:00"}
    ),
]

# JSON true/false only (not "yes", 1 or "true").
Flag = StrictBool

# A JSON number (an integer is a number too); never a string or a boolean.
Number = StrictFloat


def _decimal_text(pattern: str, what: str, example: str) -> Callable[[Any], str]:
    """A check: a decimal string in ASCII digits matching `pattern`, else a sentence."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f'must be {what} as text, e.g. "{example}", not a {_json_type(value)}')
        if not compiled.fullmatch(value):
            raise ValueError(f"'{value[:40]}' is not {what}; write it like \"{example}\"")
        return value

    return check


_PRICE = r"[0-9]{1,4}(\.[0-9]{1,5})?"
_INDEX = r"[0-9]{1,12}(\.[0-9]{1,3})?"

# €/kWh, at most 5 decimals (the registry refuses above 10 €/kWh).
Price = Annotated[
    str,
    BeforeValidator(_decimal_text(_PRICE, "a price in €/kWh", "0.23441")),
    WithJsonSchema({"type": "string", "pattern": f"^{_PRICE}$", "example": "0.23441"}),
]

# A meter's cumulative index, at most 3 decimals.
IndexValue = Annotated[
    str,
    BeforeValidator(_decimal_text(_INDEX, "an index", "1234.567")),
    WithJsonSchema({"type": "string", "pattern": f"^{_INDEX}$", "example": "1234.567"}),
]

_MONEY = r"[0-9]{1,9}(\.[0-9]{1,2})?"

# An amount in euros, at most 2 decimals ("20.00"); each operation says its own range.
Money = Annotated[
    str,
    BeforeValidator(_decimal_text(_MONEY, "an amount in euros", "20.00")),
    WithJsonSchema({"type": "string", "pattern": f"^{_MONEY}$", "example": "20.00"}),
]

# A database id in a path: a positive 64-bit integer (larger would overflow the column type).
MAX_ID = 2**63 - 1
