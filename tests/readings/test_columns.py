"""The file import's plain CSV path: batches cut into columns by one split of their text and
checked a run of one meter register at a time. Same outcome as the csv module and the
row-by-row checks, row for row (Hypothesis)."""

from __future__ import annotations

import csv
import importlib
import re
from datetime import UTC, timedelta, timezone
from io import StringIO

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde import clock
from solde.readings import rules, services
from solde.readings.models import Reading, RejectedReading
from solde.readings.plain import PlainText
from solde.readings.services import Columns, ingest_rows

command = importlib.import_module("solde.readings.management.commands.import-readings")

HEADER = "ean,meter,register,at,value,unit"

# Lines of a file: plain rows (the fast split), and what must go through the csv module.
plain_fields = st.text(alphabet="abc019.:+- T\x00é", max_size=6)
plain_line = st.lists(plain_fields, min_size=6, max_size=6).map(",".join)
odd_line = st.one_of(
    st.just(""),  # a blank line
    st.lists(plain_fields, min_size=1, max_size=8).map(",".join),  # another width
    st.lists(st.text(alphabet='ab,"\n\r', max_size=5), min_size=6, max_size=6).map(
        lambda fields: ",".join(f'"{f}"' if '"' not in f else f for f in fields)
    ),  # quoted fields, maybe with line breaks
)
ending = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"])


@given(
    st.lists(st.tuples(st.one_of(plain_line, plain_line, plain_line, odd_line), ending)),
    st.booleans(),
    st.integers(1, 7),
)
@settings(max_examples=300)
def test_batches_are_what_the_csv_module_reads(lines, last_break, size):
    text = HEADER + "\n" + "".join(line + end for line, end in lines)
    if lines and not last_break:
        text = text[: -len(lines[-1][1])]
    # The reference: every non-blank record of the csv module, numbered by its last line.
    reader = csv.reader(StringIO(text, newline=""))
    next(reader)
    try:
        expected = [(tuple(row), reader.line_num) for row in reader if row]
    except csv.Error:
        expected = None
    try:
        got = [
            (tuple(rows[i]), numbers[i])
            for rows, numbers in command.csv_batches(StringIO(text, newline=""), size)
            for i in range(len(rows))
        ]
    except command.Unreadable:
        got = None
    assert got == expected


def test_a_plain_file_is_read_as_buffers(tmp_path):
    text = (
        HEADER
        + "\n"
        + "".join(f"e,m,1.8.1,2026-11-28T00:{q:02d}:00+01:00,1.000,kWh\n" for q in range(4))
    )
    batches = list(command.csv_batches(StringIO(text, newline=""), 3))
    assert [type(rows) for rows, _lines in batches] == [PlainText, PlainText]
    assert [list(lines) for _rows, lines in batches] == [[2, 3, 4], [5]]


# --- the same batch as columns and as rows: the same outcome ------------------------------------

SPELLINGS = {
    # value spellings: plain (the run-at-once check), and others the row-by-row check reads
    "value": [
        "{v}.{m:03d}",
        "{v}.{m:03d}",
        "{v}.{m:03d}",
        "{v}",
        "{v}.5",
        " {v}.000",
        "1e3",
        "",
        "-1.000",
        "x",
    ],
    # instant spellings
    "at": ["{iso}", "{iso}", "{iso}", "{utc}", "{naive}", "garbage", "", "{iso}\x00"],
    # a unit or an EAN of its own inside a run
    "unit": ["kWh", "KWH", "m3", "m³", ""],
    "ean": ["{ean0}", "{ean2}", "5414", ""],
}
COLUMN = {"ean": 0, "at": 3, "value": 4, "unit": 5}


@pytest.mark.django_db
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # which meter (2: gas)
            st.sampled_from(["1.8.1", "1.8.1", "1.8.2", "24.2.3", "2.8.0"]),
            st.integers(0, 20),  # run length
            st.integers(0, 6_000),  # mean step, thousandths a quarter-hour (16,000: a jump)
            st.integers(0, 80),  # first quarter-hour back from now
            st.sampled_from(["ok"] * 6 + ["ean", "meter", "unit", "unit_alias", "nul"]),
        ),
        max_size=6,
    ),
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 80), st.integers(0, 400_000)), max_size=4),
    st.lists(st.tuples(st.integers(0, 60), st.sampled_from(sorted(SPELLINGS)), st.integers(0, 9))),
    st.randoms(),
)
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_columns_and_rows_give_the_same_outcome(
    make_supply_point, frozen, runs, stored, damage, random
):
    with transaction.atomic():  # each example leaves nothing behind
        same_outcome(make_supply_point, frozen, runs, stored, damage, random)
        transaction.set_rollback(True)


def outcome(batch) -> tuple:
    """What ingesting the batch does, rolled back: counts, refusals, stored and kept rows."""
    with transaction.atomic():
        result = ingest_rows(batch, "file:test", first_index=2)
        seen = (
            result.accepted,
            result.duplicates,
            [(r.index, r.reason, r.detail) for r in result.rejected],
            sorted(result.supply_point_ids),
            sorted(Reading.objects.values_list("meter_id", "register", "at", "value_milli")),
            sorted(
                RejectedReading.objects.values_list(
                    "row_index", "ean", "meter", "register", "at", "value", "unit", "reason"
                )
            ),
        )
        transaction.set_rollback(True)
    return seen


def same_outcome(make_supply_point, frozen, runs, stored, damage, random) -> None:
    points = [make_supply_point(), make_supply_point(), make_supply_point(energy="gas")]
    meters = [sp.meters.get() for sp in points]
    rows: list[list[str]] = []
    for which, register, length, step, back, twist in runs:
        sp, meter = points[which], meters[which]
        unit = "m3" if sp.energy == "gas" else "kWh"
        value = random.randrange(1_000, 9_000_000)
        for q in range(length):
            at = frozen - timedelta(minutes=15 * (back - q))
            value += random.randrange(0, 3 * step + 1)
            rows.append(
                [
                    sp.ean,
                    meter.serial,
                    register,
                    clock.local(at).isoformat(),
                    f"{value // 1000}.{value % 1000:03d}",
                    unit,
                ]
            )
            if twist == "ean":
                rows[-1][0] = points[(which + 1) % 3].ean
            elif twist == "meter":
                rows[-1][1] = "NOPE" + meter.serial
            elif twist == "unit":
                rows[-1][5] = "m3" if unit == "kWh" else "kWh"
            elif twist == "unit_alias":
                rows[-1][5] = unit.upper()
            elif twist == "nul":
                rows[-1][2] += "\x00"
    for pos, field, spelling in damage:  # single damaged rows inside runs
        if pos < len(rows):
            row = rows[pos]
            whole, _, frac = row[4].partition(".")
            at = clock.local(frozen - timedelta(minutes=15 * (pos % 50)))
            choices = SPELLINGS[field]
            text = choices[spelling % len(choices)].format(
                v=whole,
                m=int(frac or 0),
                iso=at.isoformat(),
                utc=at.astimezone(UTC).isoformat(),
                naive=at.replace(tzinfo=None).isoformat(),
                ean0=points[0].ean,
                ean2=points[2].ean,
            )
            row[COLUMN[field]] = text
    for which, back, value in [
        (w, b, v) for (w, b), v in {(w, b): v for w, b, v in stored}.items()
    ]:
        Reading.objects.create(
            meter=meters[which],
            register="1.8.1",
            at=frozen - timedelta(minutes=15 * back + 7),
            value_milli=value,
        )

    as_rows = outcome([tuple(row) for row in rows])
    as_columns = outcome(Columns([[row[i] for row in rows] for i in range(6)]))
    assert as_columns == as_rows
    if rows:
        as_buffer = PlainText.of("".join(",".join(row) + "\n" for row in rows))
        assert as_buffer is not None
        assert outcome(as_buffer) == as_rows


# --- a plain batch read as arrays: the same outcome as its rows ---------------------------------

# Largest rise a quarter-hour, thousandths: around the limits (60 kW: 15,000; 40 m³/h: 10,000).
STEPS = [0, 50, 3_000, 9_999, 10_000, 10_001, 14_999, 15_000, 15_001, 30_000]


@pytest.mark.django_db
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # which meter (2: gas)
            st.sampled_from(["1.8.1", "1.8.2", "24.2.3"]),
            st.integers(1, 30),  # run length
            st.sampled_from(STEPS),
            st.integers(0, 90),  # first quarter-hour back from now
            st.sampled_from(["+01:00"] * 4 + ["+00:00", "-05:00"]),  # the offset written
        ),
        min_size=1,
        max_size=4,
    ),
    # stored indexes near a run: (which run, quarter-hours from its first row, minutes off the
    # quarter, thousandths off that row's value)
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(-40, 40),
            st.sampled_from([0, 0, 7]),
            st.sampled_from([0, 0, -1, 1, -20_000, 20_000, 2_000_000]),
        ),
        max_size=4,
    ),
    st.randoms(),
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_buffer_and_its_rows_give_the_same_outcome(
    make_supply_point, frozen, runs, stored, random
):
    """Mostly clean batches — the array path's case — with stored indexes before, after, on and
    inside the new rows, rises at and past the limit, a meter register in two runs, a register
    the meter lacks: judged and stored as the row code does, row for row."""
    with transaction.atomic():
        points = [make_supply_point(), make_supply_point(), make_supply_point(energy="gas")]
        meters = [sp.meters.get() for sp in points]
        lines, written = [], []  # written: per run, its meter, register and (instant, value)s
        for which, register, length, step, back, offset in runs:
            sp, meter = points[which], meters[which]
            unit = "m3" if sp.energy == "gas" else "kWh"
            value = random.randrange(1_000, 9_000_000)
            hours, minutes = int(offset[1:3]), int(offset[4:])
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
            rows = []
            for q in range(length):
                at = frozen - timedelta(minutes=15 * (back - q))
                value += random.choice([0, step, random.randrange(0, step + 1), -1] * 5 + [-step])
                rows.append((at, value))
                lines.append(
                    f"{sp.ean},{meter.serial},{register},{at.astimezone(zone).isoformat()},"
                    f"{value // 1000}.{value % 1000:03d},{unit}\n"
                )
            written.append((meter, register, rows))
        for run, q, off, delta in stored:
            if run < len(written):
                meter, register, rows = written[run]
                at, value = rows[max(0, min(q, len(rows) - 1))]
                Reading.objects.get_or_create(
                    meter=meter,
                    register=register,
                    at=at + timedelta(minutes=15 * (q - max(0, min(q, len(rows) - 1))) + off),
                    defaults={"value_milli": max(0, value + delta)},
                )
        batch = PlainText.of("".join(lines))
        assert batch is not None

        assert outcome(batch) == outcome([batch[i] for i in range(len(batch))])
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_clean_batch_goes_in_by_arrays(make_supply_point, frozen):
    """No row of a clean batch is checked, judged or packed on its own: the array path takes it
    whole, and stores every row."""
    sp = make_supply_point()
    meter = sp.meters.get()
    text = "".join(
        f"{sp.ean},{meter.serial},{register},"
        f"{clock.local(frozen - timedelta(minutes=15 * (96 - q))).isoformat()},"
        f"{1000 + q}.{q:03d},kWh\n"
        for register in ("1.8.1", "1.8.2")
        for q in range(96)
    )
    batch = PlainText.of(text)
    prepared = services._prepare(batch)
    assert prepared.runs is not None and not prepared.groups and not prepared.rejects
    result = ingest_rows(batch, "file:test")
    assert (result.accepted, result.duplicates, result.rejected) == (192, 0, [])
    assert Reading.objects.filter(meter=meter).count() == 192
    # a stored index higher than the batch's first: the rows are walked, and one refused
    Reading.objects.filter(meter=meter).delete()
    Reading.objects.create(
        meter=meter, register="1.8.1", at=frozen - timedelta(hours=30), value_milli=5_000_000
    )
    result = ingest_rows(batch, "file:test", first_index=1)
    assert result.accepted == 96 and {r.reason for r in result.rejected} == {"index_decrease"}


def _line(at: str = "2026-11-28T00:15:00+01:00", value: str = "1.000") -> str:
    return f"541449011000000011,M1,1.8.1,{at},{value},kWh\n"


@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[0-9]{1,17}\.[0-9]{2,4}", fullmatch=True),
            # the shape of a plain value, not always its digits
            st.from_regex(r"[0-9+\-e ]{1,16}\.[0-9+\-e ]{3}", fullmatch=True),
            st.text(alphabet="0123456789.+-e ", min_size=1, max_size=20),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_values_are_read_by_arrays_as_the_row_code_reads_a_plain_value(values):
    """Digits, a point, three decimals, at most 15 digits before it: read as thousandths;
    anything else (another width, a sign, an exponent) sends the batch to the row code."""
    batch = PlainText.of("".join(_line(value=v) for v in values))
    assert batch is not None
    got = batch.values()
    if all(services._PLAIN_VALUES.fullmatch(v) for v in values):
        assert got is not None
        assert got.tolist() == [rules.parse_value_milli(v) for v in values]
    else:
        assert got is None


_INSTANT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}"


@given(
    st.lists(
        st.one_of(
            st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])).map(
                lambda at: at.replace(microsecond=0).isoformat()
            ),
            st.from_regex(_INSTANT, fullmatch=True),
            st.from_regex(
                _INSTANT.replace("[0-9]", "[0-9+ ]").replace("[+-]", "[+\\-Z 0]"), fullmatch=True
            ),
            st.text(alphabet="0123456789-+:TZ ", min_size=1, max_size=27),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_instants_are_told_apart_by_arrays_as_texts(instants):
    """Every line's instant is one of the distinct texts, the one it holds, whenever all are
    written as 2026-11-28T00:15:00+01:00 (each text is then parsed once, by the real parser);
    otherwise the batch goes to the row code."""
    batch = PlainText.of("".join(_line(at=at) for at in instants))
    assert batch is not None
    got = batch.instants()
    if all(re.fullmatch(_INSTANT, at, re.ASCII) for at in instants):
        assert got is not None
        texts, which = got
        assert len(set(texts)) == len(texts)
        assert [texts[i] for i in which.tolist()] == instants
    else:
        assert got is None
