"""The .po catalogues are complete for nl, de, en and the committed .mo files match them."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

import solde
from solde.notifications.texts import TEXTS

LOCALE = Path(solde.__file__).parent / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def parse_po(path: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for each entry but the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        if block.lstrip().startswith("#~"):
            continue  # obsolete entries
        fuzzy = "#, fuzzy" in block or ", fuzzy" in block
        parts = re.findall(r'^(msgid|msgstr(?:\[\d\])?) ((?:".*"\n?)+)', block + "\n", re.M)
        fields = {k: "".join(re.findall(r'"((?:\\.|[^"\\])*)"', v)) for k, v in parts}
        if fields.get("msgid"):
            msgstr = fields.get("msgstr", fields.get("msgstr[0]", ""))
            entries.append((_unescape(fields["msgid"]), _unescape(msgstr), fuzzy))
    return entries


def _unescape(s: str) -> str:
    # PO escapes (a backslash before n, t, a quote or a backslash); the rest is UTF-8 text.
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


@pytest.mark.parametrize("lang", ["fr", "nl", "de", "en"])
def test_catalogue_exists_and_mo_matches_po(lang):
    po = LOCALE / lang / "LC_MESSAGES" / "django.po"
    mo = LOCALE / lang / "LC_MESSAGES" / "django.mo"
    assert po.exists() and mo.exists(), "run `solde compilemessages` and commit the .mo"
    with mo.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    for msgid, msgstr, fuzzy in parse_po(po):
        if msgstr and not fuzzy:
            assert catalog.gettext(msgid) == msgstr, f"stale .mo for {msgid!r}: recompile"


@pytest.mark.parametrize("lang", ["nl", "de", "en"])
def test_every_message_is_translated(lang):
    entries = parse_po(LOCALE / lang / "LC_MESSAGES" / "django.po")
    assert entries
    missing = [m for m, s, fuzzy in entries if not s or fuzzy]
    assert not missing, f"{lang}: untranslated or fuzzy: {missing[:5]}"
    for msgid, msgstr, _ in entries:
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_every_notification_text_is_in_the_catalogue():
    ids = {m for m, _, _ in parse_po(LOCALE / "nl" / "LC_MESSAGES" / "django.po")}
    for kind, text in TEXTS.items():
        for s in (text.label, text.subject, text.sms, text.when_paragraph, *text.paragraphs):
            assert not s or s in ids, f"{kind}: run makemessages ({s[:40]!r})"
