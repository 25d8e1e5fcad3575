"""`solde import-bank-statement FILE`: credit the transfers of a CAMT.053 statement."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde.money import format_eur
from solde.topups import bank
from solde.topups.camt import CamtError


def _eur(cents: int | None) -> str:
    return "—" if cents is None else f"{format_eur(cents)} €"


class Command(TyperCommand):
    help = (
        "Import a CAMT.053 bank statement (camt.053.001.02 or .08): credit matched transfers, "
        "take back returned ones, the rest to suspense. A file that does not add up is refused."
    )

    def handle(
        self,
        file: Annotated[Path, typer.Argument(help="The CAMT.053 XML file from the bank")],
    ) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        try:
            r = bank.import_statement(data, filename=file.name)
        except CamtError as exc:
            raise CommandError(f"{file.name}: {exc} Nothing was imported.") from exc
        out = io.StringIO()
        console = Console(file=out, width=110, highlight=False, soft_wrap=True)
        for s in r.statements:
            if s.already_imported:
                console.print(f"Statement {s.title}: already imported, nothing changed.")
                continue
            console.print(
                f"Statement {s.title} ({s.version}): {s.entries} entries, {s.lines} lines. "
                f"Opening {_eur(s.opening_cents)} → closing {_eur(s.closing_cents)}: adds up."
            )
            table = Table(show_edge=False)
            table.add_column("outcome")
            table.add_column("lines", justify="right")
            table.add_column("amount", justify="right")
            for outcome in bank.OUTCOMES:
                t = s.totals[outcome]
                table.add_row(outcome, str(t.count), _eur(t.cents))
            total = sum(t.cents for t in s.totals.values())
            table.add_row("total", str(sum(t.count for t in s.totals.values())), _eur(total))
            console.print(table)
            for note in s.notes:
                console.print(f"  {note}")
            for warning in s.warnings:
                console.print(f"  warning: {warning}")
        console.print(
            f"Credited: {r.credited} ({_eur(r.credited_cents)}). "
            f"Suspense: {r.suspense} ({_eur(r.suspense_cents)}). "
            f"Refused: {r.refused}. Duplicates: {r.duplicate}. "
            f"Already imported: {r.already_imported} statement(s)."
        )
        self.stdout.write(out.getvalue(), ending="")
