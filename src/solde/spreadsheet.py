"""Text bound for a CSV that people open in a spreadsheet program."""

from __future__ import annotations

# A cell starting with one of these is read as a formula (=HYPERLINK(...), +cmd|..., @SUM...).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: object) -> str:
    """A free-text value (a reference, a name) made inert: a leading formula character gets an
    apostrophe, which spreadsheet programs show as text. Numbers are not passed through here."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
