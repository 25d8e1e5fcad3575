"""`solde status`: the readiness checks of /readyz and the scheduled jobs, in a terminal. Exit
status 1 when a check fails or a job is failing (scripts and deploy gates can use it)."""

from __future__ import annotations

from datetime import datetime

from django.core.management import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde import clock, health, schedule

STYLE = {health.OK: "green", health.FAIL: "bold red", health.SKIPPED: "dim"}


def _when(instant: datetime | None) -> str:
    return clock.local(instant).strftime("%Y-%m-%d %H:%M:%S") if instant else "-"


def checks_table(results: list[health.Check]) -> Table:
    table = Table(title="Solde readiness", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for r in results:
        table.add_row(r.name, f"[{STYLE[r.status]}]{r.status}[/]", r.detail)
    return table


def jobs_table(jobs: list[schedule.JobStatus]) -> Table:
    """The jobs as a rich table: each job, last run, next due, last failure, attempts."""
    table = Table(title="Scheduled jobs", title_justify="left")
    for column in ("job", "last run", "next due", "last failure", "attempts", "error"):
        table.add_column(column)
    for j in jobs:
        error = j.last_error.strip().splitlines()[-1] if j.failing and j.last_error else ""
        table.add_row(
            j.job,
            _when(j.last_run),
            _when(j.next_due),
            _when(j.last_failure_at),
            f"[bold red]{j.attempts}[/]" if j.failing else "0",
            error[:80],
        )
    return table


class Command(TyperCommand):
    help = "Is Solde ready (database, broker, workers, close, outboxes)? How are its jobs doing?"

    def handle(self) -> None:
        results = health.run_checks()
        jobs = schedule.status()
        console = Console(file=self.stdout, width=160)  # type: ignore[arg-type]
        console.print(checks_table(results))
        console.print(jobs_table(jobs))
        problems = [r.name for r in results if r.status == health.FAIL]
        problems += [f"job {j.job}" for j in jobs if j.failing]
        if problems:
            raise CommandError(f"Not ready: {', '.join(problems)}.", returncode=1)
        console.print("[green]Ready.[/]")
