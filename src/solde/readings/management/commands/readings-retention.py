"""`solde readings-retention [--dry-run]`: drop raw index readings older than each DSO's
retention (partitions of months every DSO let go are detached and dropped; otherwise the DSO's
rows are deleted). The dry run prints what would go, per month and DSO, and writes nothing."""

from __future__ import annotations

from typing import Annotated

import typer
from django.core.management.base import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde.readings import retention


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cuts_table(plan: retention.Plan, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("month", "DSO", "action", "rows", "bytes"):
        table.add_column(column, justify="right" if column in ("rows", "bytes") else "left")
    for cut in plan.cuts:
        action = "drop partition" if cut.action == "drop" else "delete rows"
        table.add_row(
            cut.month.strftime("%Y-%m"), cut.dso or "-", action, f"{cut.rows:,}", _size(cut.bytes)
        )
    known = [c.bytes for c in plan.cuts if c.bytes is not None]
    table.add_row("total", "", "", f"{plan.rows:,}", _size(sum(known)) if known else "-")
    return table


class Command(TyperCommand):
    help = (
        "Drop raw index readings older than each DSO's retention (raw_readings_retention_months)."
        " Daily figures stay."
    )

    def handle(
        self,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print what would go; change nothing.")
        ] = False,
    ) -> None:
        console = Console(file=self.stdout, width=120)  # type: ignore[arg-type]
        if dry_run:
            plan = retention.plan()
            for dso, before in sorted(plan.cutoffs.items()):
                console.print(f"{dso}: raw readings before {before.isoformat()} go")
            if not plan.cuts:
                console.print("Nothing to drop.")
                return
            console.print(cuts_table(plan, "Would drop (dry run: nothing changed)"))
            for sentence in plan.blocked:
                console.print(f"[bold red]Blocked[/] {sentence}")
            return
        try:
            plan, done = retention.apply()
        except retention.RetentionBlocked as exc:
            raise CommandError(f"Nothing dropped. {exc}") from None
        if not plan.cuts:
            console.print("Nothing to drop.")
            return
        console.print(cuts_table(plan, "Dropped"))
        console.print(
            f"{done.rows_deleted:,} raw readings gone; partitions dropped: "
            + (", ".join(m.strftime("%Y-%m") for m in done.partitions_dropped) or "none")
            + "."
        )
