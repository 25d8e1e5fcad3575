"""`solde migrate-budget-meters FILE --dso RESA [--dry-run] [--batch-size 200]`: move budget-meter
customers to smart meters in prepayment (docs/migration.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand

from solde.budgetmeters import services
from solde.budgetmeters.rules import MigrationFileError
from solde.notifications.rules import format_amount
from solde.registry.services import InvalidInput


class Command(TyperCommand):
    help = (
        "Migrate budget-meter customers from a CSV file: --dry-run reports every line's "
        "outcome; the import runs one transaction per batch and skips EANs already migrated."
    )

    def handle(
        self,
        file: Annotated[Path, typer.Argument(help="The CSV file (columns: docs/migration.md).")],
        dso: Annotated[str, typer.Option("--dso", help="The DSO whose customers these are.")],
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Check and report; write nothing.")
        ] = False,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, max=5000, help="Lines per transaction.")
        ] = services.DEFAULT_BATCH,
    ) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            report = services.migrate(
                data, dso, dry_run=dry_run, batch_size=batch_size, label=file.stem
            )
        except (MigrationFileError, InvalidInput) as exc:
            raise CommandError(str(exc)) from None
        for o in report.refused:
            self.stdout.write(f"line {o.line}: {o.ean or '-'}: refused: {o.reasons}")
        for b in report.batches:
            self.stdout.write(f"batch {b.number}: {b.lines} lines, {b.letters} letters: {b.pdf}")
        new = services.Status.NEW if dry_run else services.Status.MIGRATED
        verb = "would be migrated" if dry_run else "migrated"
        self.stdout.write(
            f"{len(report.lines)} lines: {report.count(new)} {verb}, "
            f"{report.count(services.Status.ALREADY)} already migrated, "
            f"{report.count(services.Status.REFUSED)} refused; carried balances "
            f"{format_amount(report.carried_cents, 'en')}."
        )
        if report.refused:
            # Exit status 1 so a script sees the refused lines (the good ones were migrated).
            raise CommandError(f"{len(report.refused)} lines refused; fix them and run again.")
