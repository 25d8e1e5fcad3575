"""`solde status`: the readiness checks of /readyz, in a terminal. Exit status 1 when one fails
(scripts and deploy gates can use it)."""

from __future__ import annotations

from django.core.management import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde import health

STYLE = {health.OK: "green", health.FAIL: "bold red", health.SKIPPED: "dim"}


class Command(TyperCommand):
    help = "Show whether Solde is ready: database, broker, workers, close, outboxes."

    def handle(self) -> None:
        results = health.run_checks()
        table = Table(title="Solde readiness", title_justify="left")
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for r in results:
            table.add_row(r.name, f"[{STYLE[r.status]}]{r.status}[/]", r.detail)
        console = Console(file=self.stdout, width=110)  # type: ignore[arg-type]
        console.print(table)
        if not health.ready(results):
            failed = ", ".join(r.name for r in results if r.status == health.FAIL)
            raise CommandError(f"Not ready: {failed}.", returncode=1)
        console.print("[green]Ready.[/]")
