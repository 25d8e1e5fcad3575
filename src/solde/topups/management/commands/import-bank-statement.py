"""`solde import-bank-statement FILE`: credit the transfers of a CAMT.053 statement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand

from solde.money import format_eur
from solde.topups import bank
from solde.topups.camt import CamtError


class Command(TyperCommand):
    help = "Import a CAMT.053 bank statement: credit matched transfers, the rest to suspense."

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
        self.stdout.write(
            f"{r.statements} statement(s): {r.new_lines} new credit line(s), "
            f"{r.already_imported} already imported, {r.ignored} debit/unbooked ignored.\n"
            f"Credited: {r.credited} ({format_eur(r.credited_cents)} €). "
            f"Suspense: {r.suspense} ({format_eur(r.suspense_cents)} €)."
        )
        for why in r.suspense_reasons:
            self.stdout.write(f"  suspense {why}")
