"""Pure rules: amounts per language, backoff, quiet hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solde.notifications import rules


@pytest.mark.parametrize(
    "cents, lang, text",
    [
        (123456, "fr", "1 234,56 €"),
        (123456, "nl", "€ 1.234,56"),
        (123456, "de", "1.234,56 €"),
        (123456, "en", "€1,234.56"),
        (-310, "fr", "-3,10 €"),
        (-310, "en", "-€3.10"),
        (5, "de", "0,05 €"),
    ],
)
def test_format_amount(cents, lang, text):
    assert rules.format_amount(cents, lang) == text


@given(st.integers(-(10**9), 10**9), st.sampled_from(["fr", "nl", "de", "en"]))
def test_format_amount_keeps_every_cent(cents, lang):
    text = rules.format_amount(cents, lang)
    digits = "".join(ch for ch in text if ch.isdigit())
    assert int(digits) == abs(cents)
    assert text.count("-") == (cents < 0)


def test_backoff_doubles_up_to_an_hour():
    assert [rules.backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert rules.backoff(30) == timedelta(hours=1)


@pytest.mark.parametrize(
    "local, quiet",
    [
        ("2026-11-28 20:59", False),
        ("2026-11-28 21:00", True),
        ("2026-11-29 03:00", True),
        ("2026-11-29 07:59", True),
        ("2026-11-29 08:00", False),
    ],
)
def test_quiet_hours(at, local, quiet):
    assert rules.in_quiet_hours(at(local)) is quiet
    assert rules.sms_send_at(at(local)) == (
        rules.quiet_hours_end(at(local)) if quiet else at(local)
    )
