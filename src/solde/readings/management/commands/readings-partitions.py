"""`solde readings-partitions`: what the 03:30 job does, now — this month's partition and the
months ahead, rows waiting in a catch-all partition moved into their month — then the
partitions with their sizes (PostgreSQL; SQLite keeps one table)."""

from __future__ import annotations

from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde.readings import partitions


class Command(TyperCommand):
    help = "Create the readings' monthly partitions ahead now and list them (PostgreSQL)."

    def handle(self) -> None:
        console = Console(file=self.stdout, width=120)  # type: ignore[arg-type]
        if not partitions.partitioned():
            console.print("The readings table is not partitioned here (SQLite): nothing to do.")
            return
        done = partitions.maintain()
        created = ", ".join(m.strftime("%Y-%m") for m in done.created) or "none"
        console.print(
            f"Partitions created: {created}; rows moved out of the catch-alls: {done.moved:,}."
        )
        table = Table(title="Readings partitions", title_justify="left")
        table.add_column("partition")
        table.add_column("month")
        table.add_column("bytes", justify="right")
        for p in partitions.partitions():
            month = p.month.strftime("%Y-%m") if p.month else "catch-all"
            table.add_row(p.name, month, f"{p.bytes:,}")
        console.print(table)
