"""Pure rules of readings: parsing, and judging in time order (with Hypothesis)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde.readings import rules
from solde.readings.rules import Malformed

QUARTER = 15 * 60 * 10**6  # µs
LIMIT = rules.limit_centi(Decimal("60"))  # 60 kW: 15 kWh in a quarter-hour


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("0", 0),
        ("1234.567", 1_234_567),
        ("1.5", 1_500),
        ("007.05", 7_050),
        (" 12.5 ", 12_500),
        ("1.2300", 1_230),
        ("1e3", 1_000_000),
        (12, 12_000),
        (0.5, 500),
    ],
)
def test_values_are_read_exactly(text, milli):
    assert rules.parse_value_milli(text) == milli


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.2345", "plus de 3 décimales"),
        ("-0.001", "est négative"),
        ("x", "n'est pas un nombre"),
        ("inf", "n'est pas un nombre"),
        ("", "manque"),
        (None, "manque"),
        (True, "nombre décimal en texte"),
        ("1" * 17, "trop grande"),
        ("١٢", "n'est pas un nombre"),
    ],
)
def test_malformed_values(text, message):
    with pytest.raises(Malformed, match=message):
        rules.parse_value_milli(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T08:00:00+01:00\x00",
        "2026-11-28T08:00:00\x00+01:00",
        "2026-11-28T08:00:00+01:00\x00junk",
    ],
)
def test_an_instant_with_a_nul_is_refused(text):
    """Python's ISO parser stops at a NUL: the rest of the field must not slip through."""
    with pytest.raises(Malformed, match="n'est pas un instant"):
        rules.parse_instant(text)


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_value_text_round_trip(milli):
    assert rules.parse_value_milli(rules.format_milli(milli)) == milli


def test_rate_limit_is_exact_at_the_boundary():
    assert not rules.too_fast(15_000, QUARTER, LIMIT)  # 15.000 kWh in 15 min = 60 kW
    assert rules.too_fast(15_001, QUARTER, LIMIT)


readings = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 20_000_000)), min_size=1, max_size=60
)


@given(readings, readings)
@settings(max_examples=300)
def test_judged_readings_never_go_down_nor_jump(stored, new):
    """Whatever arrives, in whatever order, what is kept is increasing and plausible."""
    known = sorted({t * QUARTER: v for t, v in stored}.items())
    # Make the stored series itself valid: only its increasing, plausible subsequence.
    kept: list[tuple[int, int]] = []
    for t, v in known:
        if not kept or (
            v >= kept[-1][1] and not rules.too_fast(v - kept[-1][1], t - kept[-1][0], LIMIT)
        ):
            kept.append((t, v))
    candidates = [(t * QUARTER + 7, pos, v) for pos, (t, v) in enumerate(new)]
    ok, dups, refused = rules.judge([t for t, _ in kept], [v for _, v in kept], candidates, LIMIT)
    assert len(ok) + len(dups) + len(refused) == len(new)
    merged = sorted(kept + [(t, v) for t, _pos, v in ok])
    for (t0, v0), (t1, v1) in zip(merged, merged[1:], strict=False):
        assert t1 > t0
        assert v1 >= v0
        assert not rules.too_fast(v1 - v0, t1 - t0, LIMIT)


@given(st.lists(st.integers(0, 2_000_000), min_size=2, max_size=40), st.randoms())
@settings(max_examples=200)
def test_batch_order_does_not_matter(steps, random):
    """A plausible series is accepted whole, however its rows are shuffled in the batch."""
    series, value = [], 0
    for i, step in enumerate(steps):
        value += step % 15_001  # at most 15 kWh a quarter-hour: 60 kW
        series.append((i * QUARTER, value))
    candidates = [(t, pos, v) for pos, (t, v) in enumerate(series)]
    random.shuffle(candidates)
    ok, dups, refused = rules.judge([], [], candidates, LIMIT)
    assert (len(ok), dups, refused) == (len(series), [], [])


@pytest.mark.django_db
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3_000)), min_size=1, max_size=30),
    st.integers(1, 7),
    st.randoms(),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_ingestion_in_random_batches_keeps_the_invariants(
    make_supply_point, row, frozen, points, batch_size, random
):
    from solde import clock
    from solde.readings.models import Reading
    from solde.readings.services import ingest

    sp = make_supply_point()
    rows = [
        row(sp, clock.local(frozen - timedelta(minutes=15 * (41 - q))).isoformat(), f"{v}.000")
        for q, v in points
    ]
    random.shuffle(rows)
    seen = 0
    for start in range(0, len(rows), batch_size):
        result = ingest(rows[start : start + batch_size], "hypothesis")
        seen += result.accepted + result.duplicates + len(result.rejected)
    assert seen == len(rows)
    stored = list(
        Reading.objects.filter(meter__supply_point=sp)
        .order_by("at")
        .values_list("at", "value_milli")
    )
    for (t0, v0), (t1, v1) in zip(stored, stored[1:], strict=False):
        assert v1 >= v0
        assert (v1 - v0) / 1000 / ((t1 - t0).total_seconds() / 3600) <= 60
    again = ingest(rows, "hypothesis")
    assert again.accepted == 0


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 16_000)), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 200_000)), max_size=4),
    st.lists(st.integers(0, 29), max_size=3),
    st.randoms(),
)
@settings(max_examples=400)
def test_the_shortcut_for_clean_series_agrees_with_the_walk(steps, stored, breaks, random):
    """`judge` accepts a clean series at once, without walking it row by row; whatever the
    series (clean, with a decrease, a jump, two rows at one instant, stored indexes inside or
    around it) the outcome is the walk's."""
    series, t, v = [], 0, 100_000
    for dt, dv in steps:
        t += dt * QUARTER  # dt 0: two rows at one instant
        v += dv  # above 15,000 a quarter-hour: a jump
        series.append([t, v])
    for i in breaks:  # a decrease
        if i < len(series):
            series[i][1] -= 5_000
    candidates = [(t, pos, v) for pos, (t, v) in enumerate(series)]
    random.shuffle(candidates)
    known = sorted({t * QUARTER: v for t, v in stored}.items())
    known_at, known_value = [t for t, _ in known], [v for _, v in known]
    expected = rules.walk(known_at, known_value, sorted(candidates), LIMIT)
    assert rules.judge(known_at, known_value, list(candidates), LIMIT) == expected


def test_a_clean_series_is_accepted_without_a_walk(monkeypatch):
    """The shortcut is taken on a clean day (what makes a file import cheap), and a series
    one thousandth over the limit goes to the walk, which refuses that row."""
    series = [(q * QUARTER, q, 1_000 + 15_000 * q) for q in range(96)]  # 60 kW exactly

    def no_walk(*args):
        raise AssertionError("walked")

    with monkeypatch.context() as patch:
        patch.setattr(rules, "walk", no_walk)
        ok, dups, refused = rules.judge([-QUARTER], [1_000 - 15_000], list(series), LIMIT)
    assert (len(ok), dups, refused) == (96, [], [])
    over = [*series[:50], (50 * QUARTER, 50, series[50][2] + 1), *series[51:]]
    ok, dups, refused = rules.judge([], [], over, LIMIT)
    assert [(pos, kind) for pos, kind, _t, _v in refused] == [(50, rules.JUMP_BEFORE)]
