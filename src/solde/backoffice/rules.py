"""Pure rules of the console: what a search box entry is, how results rank, four eyes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s./\-+]")


@dataclass(frozen=True)
class SearchQuery:
    """A search box entry, read once: its digits (when it is only digits and separators) and
    its words (normalised: lower case, no accents)."""

    text: str
    digits: str
    words: tuple[str, ...]

    @property
    def is_number(self) -> bool:
        return bool(self.digits)


def normalize(text: str) -> str:
    """Lower case without accents: 'Liège' → 'liege'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def parse_query(text: str) -> SearchQuery:
    text = (text or "").strip()[:100]
    compact = _SEPARATORS.sub("", text)
    digits = compact if compact.isdigit() else ""
    words = tuple(w for w in re.split(r"\s+", text) if w)
    return SearchQuery(text=text, digits=digits, words=words)


# Ranks: lower first. Exact identifiers before prefixes before names and addresses.
RANK_EXACT = 0
RANK_PREFIX = 1
RANK_CONTACT = 2
RANK_NAME = 3


def needs_second_person(amount_cents: int, limit_cents: int | None) -> bool:
    """Four eyes: an amount (credit or debit) above the operator's own limit waits for a second
    person. No limit at all (None) means every adjustment does."""
    return limit_cents is None or abs(amount_cents) > limit_cents


def can_approve(requester_id: int, approver_id: int) -> bool:
    """The second person is another person."""
    return requester_id != approver_id
