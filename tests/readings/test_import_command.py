"""`solde import-readings`: CSV and JSON Lines, batches, summary, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from solde import clock
from solde.prepayment.models import PrepaymentAccount
from solde.readings.models import Reading, RejectedReading

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("import-readings", *args, stdout=out, stderr=err)
    return out.getvalue()


def csv_lines(sp, rows) -> str:
    lines = ["ean,meter,register,at,value,unit"]
    serial = sp.meters.get().serial
    lines += [f"{sp.ean},{serial},{reg},{at},{value},kWh" for reg, at, value in rows]
    return "\n".join(lines) + "\n"


def test_csv_import_in_batches_with_a_summary(frozen, make_supply_point, tmp_path):
    sp = make_supply_point()
    rows = [
        ("1.8.1", f"2026-11-28T0{h}:{m:02d}:00+01:00", f"{100 + h}.{m:03d}")
        for h in range(8)
        for m in (0, 15, 30, 45)
    ]
    rows += [
        ("1.8.2", "2026-11-28T08:00:00+01:00", "5"),
        ("1.8.2", "2026-11-28T07:00:00+01:00", "6"),
    ]
    rows += [("1.8.1", "2026-11-28T00:00:00+01:00", "100.000")]  # duplicate in a later batch
    rows += [("9.9.9", "2026-11-28T08:00:00+01:00", "1"), ("1.8.1", "soon", "1")]
    path = tmp_path / "day.csv"
    path.write_text(csv_lines(sp, rows))
    out = run(str(path), "--batch-size", "7")
    assert Reading.objects.count() == 33
    assert "accepted" in out and "33" in out
    assert "duplicates (ignored)" in out
    for reason in ("index_decrease", "unknown_register", "invalid"):
        assert reason in out
    assert "rows read" in out and "37" in out
    # Rejections name the file's line (the header is line 1).
    kept = dict(RejectedReading.objects.values_list("reason", "row_index"))
    # 07:00 and 08:00 of 1.8.2 share a batch: judged in time order, 08:00 (line 34) goes down.
    assert kept == {"index_decrease": 34, "unknown_register": 37, "invalid": 38}
    assert "line 34: index_decrease" in out
    assert PrepaymentAccount.objects.get(supply_point=sp).state == "active"


def test_csv_columns_in_any_order(frozen, make_supply_point, tmp_path):
    sp = make_supply_point()
    path = tmp_path / "any.csv"
    path.write_text(
        "unit,value,at,register,meter,ean,comment\n"
        f"kWh,12.5,2026-11-28T08:00:00+01:00,1.8.1,{sp.meters.get().serial},{sp.ean},hello\n"
    )
    run(str(path))
    assert Reading.objects.get().value_milli == 12_500


def test_jsonl_import(frozen, make_supply_point, tmp_path):
    sp = make_supply_point(energy="gas")
    serial = sp.meters.get().serial
    lines = [
        json.dumps(
            {
                "ean": sp.ean,
                "meter": serial,
                "register": "24.2.3",
                "at": f"2026-11-28T0{h}:00:00+01:00",
                "value": f"{500 + h}",
                "unit": "m3",
            }
        )
        for h in range(6)
    ]
    lines.insert(2, "")  # a blank line is skipped
    lines.append("{not json")
    path = tmp_path / "gas.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = run(str(path), "--batch-size", "4")
    assert Reading.objects.count() == 6
    assert RejectedReading.objects.get().row_index == 8
    assert "invalid" in out


def test_format_option_overrides_the_extension(frozen, make_supply_point, tmp_path):
    sp = make_supply_point()
    path = tmp_path / "export.txt"
    path.write_text(
        json.dumps(
            {
                "ean": sp.ean,
                "meter": sp.meters.get().serial,
                "register": "1.8.1",
                "at": "2026-11-28T08:00:00+01:00",
                "value": "1",
                "unit": "kWh",
            }
        )
        + "\n"
    )
    run(str(path), "--format", "jsonl")
    assert Reading.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"ean;meter;register;at;value;unit\n", "lacks the column"),
        (b"\xff\xfe\x00garbage\n", "cannot be read"),
    ],
)
def test_unreadable_file_is_an_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run(str(path))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "nope.csv"))


def test_exit_code_is_non_zero_when_the_file_cannot_be_read(tmp_path):
    env = {**os.environ, "SOLDE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "solde", "import-readings", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Cannot read" in done.stderr


@pytest.mark.django_db(transaction=True)
def test_pipelined_import_commits_batch_after_batch(frozen, make_supply_point, tmp_path):
    # Outside a test transaction the command reads the next batch while writing this one.
    points = [make_supply_point() for _ in range(3)]
    rows = []
    for sp in points:
        serial = sp.meters.get().serial
        rows += [
            f"{sp.ean},{serial},1.8.1,2026-11-28T{h:02d}:{m:02d}:00+01:00,{100 + h}.{m:03d},kWh"
            for h in range(10)
            for m in (0, 15, 30, 45)
        ]
    # Row 10 again with another value, two batches later: a conflict with a committed reading.
    fields = rows[10].split(",")
    rows.insert(50, ",".join([*fields[:4], "999.000", "kWh"]))
    path = tmp_path / "day.csv"
    path.write_text("ean,meter,register,at,value,unit\n" + "\n".join(rows) + "\n")
    out = run(str(path), "--batch-size", "17")
    assert Reading.objects.count() == 120
    assert list(RejectedReading.objects.values_list("reason", "row_index")) == [("conflict", 52)]
    assert "120" in out
    assert set(PrepaymentAccount.objects.values_list("state", flat=True)) == {"active"}


@pytest.mark.django_db(transaction=True)
def test_batches_written_side_by_side_are_judged_in_file_order(frozen, make_supply_point, tmp_path):
    # On PostgreSQL two batches are written at once. Each batch here starts with an index a
    # little below the last one of the batch before, on the same meter: judged in file order,
    # that first row is the one refused (the other way round, the row before it would be).
    sp = make_supply_point()
    serial = sp.meters.get().serial
    rows, value = [], 100_000
    for q in range(60):
        value += -5 if q % 10 == 0 and q else 200
        at = clock.local(frozen - timedelta(minutes=15 * (80 - q))).isoformat()
        rows.append(f"{sp.ean},{serial},1.8.1,{at},{value // 1000}.{value % 1000:03d},kWh")
    path = tmp_path / "day.csv"
    path.write_text("ean,meter,register,at,value,unit\n" + "\n".join(rows) + "\n")
    run(str(path), "--batch-size", "10")
    refused = RejectedReading.objects.order_by("row_index")
    assert list(refused.values_list("reason", "row_index")) == [
        ("index_decrease", line) for line in (12, 22, 32, 42, 52)
    ]
    assert Reading.objects.count() == 55


@pytest.mark.django_db(transaction=True)
def test_a_file_unreadable_halfway_reports_every_batch_it_stored(
    frozen, make_supply_point, tmp_path
):
    # The batches being written when the read fails are committed and counted (on PostgreSQL
    # two are written at once): the rows the message says were imported are the rows stored.
    sp = make_supply_point()
    serial = sp.meters.get().serial
    rows = [
        f"{sp.ean},{serial},1.8.1,"
        f"{clock.local(frozen - timedelta(minutes=15 * (400 - q))).isoformat()},{100 + q}.000,kWh"
        for q in range(360)
    ]
    path = tmp_path / "day.csv"
    text = "ean,meter,register,at,value,unit\n" + "\n".join(rows) + "\n"
    path.write_bytes(text.encode() + b"\xff\xfe broken\n")
    with pytest.raises(CommandError) as failure:
        run(str(path), "--batch-size", "20")
    stored = Reading.objects.count()
    assert stored > 0
    assert f"The {stored:,} rows before it were imported" in str(failure.value)


def test_windows_export_with_bom_and_crlf(frozen, make_supply_point, tmp_path):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    text = (
        "\ufeffEAN,Meter,Register,At,Value,Unit\r\n"
        f"{sp.ean},{serial},1.8.1,2026-11-28T08:00:00+01:00,1.5,kWh\r\n"
        f"{sp.ean},{serial},1.8.1,2026-11-28T08:15:00+01:00,1.75,kWh\r\n"
    )
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("utf-8"))
    run(str(path))
    assert sorted(Reading.objects.values_list("value_milli", flat=True)) == [1_500, 1_750]


def test_blank_lines_keep_line_numbers_right(frozen, make_supply_point, tmp_path):
    sp = make_supply_point()
    serial = sp.meters.get().serial
    path = tmp_path / "gaps.csv"
    path.write_text(
        "ean,meter,register,at,value,unit\n"
        f"{sp.ean},{serial},1.8.1,2026-11-28T08:00:00+01:00,5,kWh\n"
        "\n\n"
        f"{sp.ean},{serial},1.8.1,2026-11-28T08:15:00+01:00,4,kWh\n"
        "\n"
    )
    out = run(str(path))
    assert RejectedReading.objects.get().row_index == 5
    assert "line 5: index_decrease" in out
