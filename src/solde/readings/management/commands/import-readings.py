"""`solde import-readings FILE [--format csv|jsonl] [--batch-size N]`: a file of index readings
(the API's fields), streamed in batches — each batch one transaction — with a progress bar and a
summary of accepted / duplicates / rejected by reason."""

from __future__ import annotations

import csv
import gc
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from enum import StrEnum
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from django.core.management.base import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from solde.readings.plain import PlainText
from solde.readings.rules import FIELDS
from solde.readings.services import Rejection, ingest_batches

Batch = tuple[Sequence, Sequence[int]]  # rows in field order, and the line number of each


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class Unreadable(Exception):
    """The file (or what is left of it) cannot be read; the message says why."""


def csv_batches(stream: IO[str], size: int) -> Iterator[Batch]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise Unreadable("The file is empty: it needs a header line and readings.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise Unreadable(f"The header line cannot be read ({exc}).") from None
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise Unreadable(
            f"The header lacks the column(s) {', '.join(missing)}: the first line must name "
            f"the columns {','.join(FIELDS)}."
        )
    # Columns in the API's order need no reshuffling: rows go through as the reader made them.
    pick = None if names[:6] == list(FIELDS) else itemgetter(*[names.index(f) for f in FIELDS])
    width = len(names)
    try:
        if pick is None and width == 6:
            yield from _plain_csv_batches(stream, reader, size)
            return
        rows: list = []
        lines: list[int] = []
        for line in reader:
            if not line:
                continue  # a blank line
            if pick is not None:
                rows.append(pick(line) if len(line) == width else None)
            else:
                rows.append(line[:6] if len(line) == width else line)
            lines.append(reader.line_num)
            if len(rows) >= size:
                yield rows, lines
                rows, lines = [], []
        if rows:
            yield rows, lines
    except (csv.Error, UnicodeDecodeError) as exc:
        raise Unreadable(f"Line {reader.line_num + 1} cannot be read ({exc}).") from None


def _plain_csv_batches(stream: IO[str], reader: Any, size: int) -> Iterator[Batch]:
    """The usual file (the API's six columns in order), a batch of lines at a time. Lines with
    no quote, each with five commas, are what the csv module would make of them split on the
    commas: the batch stays one buffer (`PlainText`), read by array operations, no Python work
    per row. Any other batch goes through the csv module; from the first quote on (a quoted
    field may hold a line break), the rest of the file does."""
    number = reader.line_num  # lines read so far (the header's)
    while True:
        lines: list[str] = []
        try:
            lines.extend(islice(stream, size))  # keeps the lines read before an error
        except UnicodeDecodeError as exc:
            raise Unreadable(f"Line {number + len(lines) + 1} cannot be read ({exc}).") from None
        if not lines:
            return
        text = "".join(lines)
        if '"' in text:
            yield from _csv_batches_from(chain(lines, stream), number, size)
            return
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if not text.endswith("\n"):
            text += "\n"  # the last line of a file that does not end with a line break
        first, count = number + 1, len(lines)
        number += count
        batch = None if "\r" in text else PlainText.of(text)
        if batch is not None:
            del lines, text  # the batch's memory is its buffer only
            yield batch, range(first, first + count)
        else:  # blank lines or other widths; no quote, so one record a line
            kept = [(row, first + i) for i, row in enumerate(csv.reader(lines)) if row]
            del lines, text
            yield [row for row, _n in kept], [n for _row, n in kept]


def _csv_batches_from(lines: Iterator[str], number: int, size: int) -> Iterator[Batch]:
    """The rest of a plain file through the csv module, its line numbers counted on from
    `number` (a record with a quoted line break is numbered by its last line)."""
    reader = csv.reader(lines)
    try:
        while True:
            rows: list = []
            numbers: list[int] = []
            for row in reader:
                if row:
                    rows.append(row)
                    numbers.append(number + reader.line_num)
                    if len(rows) >= size:
                        break
            if not rows:
                return
            yield rows, numbers
    except (csv.Error, UnicodeDecodeError) as exc:
        line = number + reader.line_num + 1
        raise Unreadable(f"Line {line} cannot be read ({exc}).") from None


def jsonl_batches(stream: IO[str], size: int) -> Iterator[Batch]:
    rows: list = []
    lines: list[int] = []
    number = 0
    try:
        for line in stream:
            number += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None  # rejected as invalid, with its line number
            rows.append(tuple(obj.get(f) for f in FIELDS) if isinstance(obj, dict) else None)
            lines.append(number)
            if len(rows) >= size:
                yield rows, lines
                rows, lines = [], []
    except UnicodeDecodeError as exc:
        raise Unreadable(f"Line {number + 1} is not UTF-8 text ({exc}).") from None
    if rows:
        yield rows, lines


class Command(TyperCommand):
    # A data command: the project's checks (URLs, API schemas) cost a second at start-up.
    requires_system_checks: list[str] = []
    help = (
        "Import index readings from a CSV file (header: ean,meter,register,at,value,unit) or a "
        "JSON Lines file (one object per line, the API's fields). Each batch is one transaction; "
        "rejected rows are kept for review."
    )

    def handle(
        self,
        file: Annotated[Path, typer.Argument(help="The CSV or JSON Lines file.")],
        format: Annotated[
            Format | None,
            typer.Option("--format", help="csv or jsonl (default: from the file's extension)."),
        ] = None,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, help="Readings per transaction.")
        ] = 50_000,
    ) -> None:
        kind = format or (
            Format.jsonl if file.suffix.lower() in (".jsonl", ".ndjson", ".json") else Format.csv
        )
        out = Console(file=self.stdout._out, highlight=False)  # type: ignore[arg-type]
        err = Console(file=self.stderr._out, highlight=False)  # type: ignore[arg-type]
        try:
            stream = open(file, encoding="utf-8-sig", newline="")  # noqa: SIM115
            total = file.stat().st_size
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        batches = (csv_batches if kind is Format.csv else jsonl_batches)(stream, batch_size)
        counts: Counter[str] = Counter()
        examples: list[Rejection] = []
        rows_done = 0
        started = time.perf_counter()
        source = f"file:{file.name}"[:200]
        failure = None
        with (
            stream,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err,
            ) as bar,
        ):
            task = bar.add_task(f"{file.name}: 0 rows", total=total)
            # Batches are hundreds of thousands of small objects, freed by reference counting
            # (they make no cycles): automatic collections would scan them again and again, for
            # a third of the run time. Collect now and then for the few cycles queries leave.
            gc.freeze()
            gc.disable()
            batches_done = 0
            try:
                for count, result in ingest_batches(batches, source):
                    rows_done += count
                    counts["accepted"] += result.accepted
                    counts["duplicates"] += result.duplicates
                    for rejection in result.rejected:
                        counts[rejection.reason] += 1
                    examples.extend(result.rejected[: max(0, 10 - len(examples))])
                    bar.update(
                        task,
                        completed=stream.buffer.tell(),  # type: ignore[attr-defined]
                        description=f"{file.name}: {rows_done:,} rows",
                    )
                    del result
                    batches_done += 1
                    if batches_done % 20 == 0:
                        gc.collect()
            except Unreadable as exc:
                failure = str(exc)
            finally:
                gc.enable()
                gc.unfreeze()
            done = total if failure is None else stream.buffer.tell()  # type: ignore[attr-defined]
            bar.update(task, completed=done)
        elapsed = time.perf_counter() - started
        if failure and not rows_done:
            raise CommandError(f"Cannot import {file}: {failure}")
        out.print(self._summary(file, counts, rows_done, elapsed))
        if examples:
            out.print(
                "Rejected rows are kept for review (admin: Readings › Rejected readings). "
                "The first ones:"
            )
            for rejection in examples:
                out.print(
                    f"  line {rejection.index}: {rejection.reason} — {rejection.detail}",
                    soft_wrap=True,
                )
        if failure:
            raise CommandError(
                f"Stopped: {failure} The {rows_done:,} rows before it were imported; fix the "
                "file and import it again (rows already stored come back as duplicates)."
            )

    @staticmethod
    def _summary(file: Path, counts: Counter[str], rows: int, elapsed: float) -> Table:
        table = Table(title=f"Import of {file.name}", show_footer=True)
        table.add_column("Outcome", footer="rows read")
        table.add_column("Rows", justify="right", footer=f"{rows:,}")
        table.add_row("accepted", f"{counts['accepted']:,}")
        table.add_row("duplicates (ignored)", f"{counts['duplicates']:,}")
        rejected = sorted((k, v) for k, v in counts.items() if k not in ("accepted", "duplicates"))
        table.add_row("rejected", f"{sum(v for _k, v in rejected):,}")
        for reason, count in rejected:
            table.add_row(f"  {reason}", f"{count:,}")
        rate = rows / elapsed if elapsed > 0 else 0.0
        table.caption = f"{elapsed:.1f} s, {rate:,.0f} rows/s"
        return table
