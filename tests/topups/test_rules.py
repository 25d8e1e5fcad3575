"""Pure rules: amounts per channel, references in free text, OGM detection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from solde.identifiers import make_ean, structured_communication
from solde.topups import rules


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_limited_channels_take_exactly_5_to_250(cents):
    for channel in rules.LIMITED_CHANNELS:
        try:
            rules.check_amount(channel, cents)
            ok = True
        except rules.AmountRefused:
            ok = False
        assert ok == (500 <= cents <= 25000)


@given(st.integers(min_value=0, max_value=10**10 - 1), st.text(max_size=20))
def test_a_valid_ogm_is_found_in_any_text(n, noise):
    ogm = structured_communication(n)
    found, _ = rules.find_structured_communication(f"{noise.replace('+', '')} {ogm}")
    assert found == ogm


def test_wrong_check_digit_is_flagged_not_matched():
    ogm = structured_communication(1234)
    digits = ogm.strip("+").replace("/", "")
    bad = digits[:10] + f"{(int(digits[10:]) % 97) + 1:02d}"
    assert rules.find_structured_communication(bad) == (None, True)
    assert rules.find_structured_communication("hello") == (None, False)


def test_references_with_separators_in_free_text():
    ean = make_ean("54144880000012345")
    ref = ean[-13:]
    text = f"recharge {ref[:3]} {ref[3:7]} {ref[7:]} montant 20.00 / EAN {ean[:9]}.{ean[9:]}"
    assert rules.find_references(text) == {("customer_reference", ref), ("ean", ean)}


def test_amount_text():
    assert rules.parse_amount("retail", "20") == 2000
    for bad in ("20.001", "abc", "-5.00", "4.99", "250.01", " "):
        try:
            rules.parse_amount("retail", bad)
            raise AssertionError(bad)
        except rules.AmountRefused:
            pass
