"""`solde settlement issue|paid|export|import-prices|regularisation`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand, command

from solde.settlement import regularisation, services
from solde.settlement.models import Statement


def _statement(pk: int) -> Statement:
    stmt = Statement.objects.filter(pk=pk).select_related("supplier").first()
    if stmt is None:
        raise CommandError(f"No statement {pk}.")
    return stmt


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"Give a date like 2026-11-29, not '{text}'.") from exc


class Command(TyperCommand):
    help = "Supplier statements and regularisation data."

    @command()
    def issue(self, statement: int) -> None:
        """Issue a draft statement (it never changes afterwards)."""
        s = services.issue_statement(_statement(statement), by="cli")
        self.stdout.write(f"Statement {s.number} issued.")

    @command()
    def paid(self, statement: int) -> None:
        """Record that the supplier was paid."""
        try:
            s = services.mark_paid(_statement(statement), by="cli")
        except services.SettlementError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Statement {s.number} paid.")

    @command()
    def export(
        self,
        statement: int,
        format: Annotated[str, typer.Option(help="csv | xml")] = "csv",
        output: Annotated[Path | None, typer.Option(help="File (default: stdout)")] = None,
    ) -> None:
        """Export a statement as CSV or XML (docs/settlement.md)."""
        s = _statement(statement)
        if format not in ("csv", "xml"):
            raise CommandError("--format is csv or xml.")
        data = services.export_csv(s).encode() if format == "csv" else services.export_xml(s)
        if output:
            output.write_bytes(data)
        else:
            self.stdout.write(data.decode())

    @command(name="import-prices")
    def import_prices(self, supplier: str, file: Path) -> None:
        """Import a supplier's own prices (CSV energy,register,valid_from,price_eur_per_kwh)."""
        try:
            n = regularisation.import_supplier_prices(
                services.supplier_by_code(supplier), file.read_text()
            )
        except (services.SettlementError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{n} price(s) imported for {supplier}.")

    @command()
    def regularisation(
        self,
        supplier: str,
        start: Annotated[str, typer.Option("--from", help="First local day")],
        end: Annotated[str, typer.Option("--to", help="Last local day")],
        output: Annotated[Path | None, typer.Option(help="File (default: stdout)")] = None,
    ) -> None:
        """Regularisation data per EAN and register as CSV."""
        try:
            sup = services.supplier_by_code(supplier)
        except services.SettlementError as exc:
            raise CommandError(str(exc)) from exc
        text = regularisation.export_csv(sup, _date(start), _date(end))
        if output:
            output.write_text(text)
        else:
            self.stdout.write(text)
