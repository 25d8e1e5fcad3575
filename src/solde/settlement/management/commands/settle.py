"""`solde settle --period week --until 2026-11-29`: draft (or issue) supplier statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand

from solde.money import format_eur
from solde.settlement import services


class Command(TyperCommand):
    help = "Make one statement per supplier with the top-ups and reversals not yet settled."

    def handle(
        self,
        until: Annotated[str, typer.Option(help="Last local day included, YYYY-MM-DD")],
        period: Annotated[str, typer.Option(help="day | week | month")] = "week",
        issue: Annotated[bool, typer.Option(help="Issue the statements at once")] = False,
    ) -> None:
        try:
            day = date.fromisoformat(until)
        except ValueError as exc:
            raise CommandError(f"--until takes a date like 2026-11-29, not '{until}'.") from exc
        try:
            report = services.settle(period, day, issue=issue, by="solde settle")
        except services.SettlementError as exc:
            raise CommandError(str(exc)) from exc
        for s in report.statements:
            self.stdout.write(
                f"{s.supplier.code}: statement {s.pk} ({s.status}) {s.period_start} → "
                f"{s.period_end}, {s.lines.count()} line(s), total {format_eur(s.total_cents)} €"
            )
        self.stdout.write(f"{report.new_lines} new line(s).")
        if report.without_supplier:
            self.stdout.write(
                f"Warning: {report.without_supplier} top-up(s) have no supplier on their date: "
                "assign one in the registry."
            )
