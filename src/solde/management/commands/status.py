"""`solde status`: how the platform's scheduled jobs are doing (a failing job stands out)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table

from solde import clock, schedule


def _when(instant: datetime | None) -> str:
    return clock.local(instant).strftime("%Y-%m-%d %H:%M:%S") if instant else "-"


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
    help = "Platform status: scheduled jobs (last run, next due, failures)."

    def handle(self) -> None:
        jobs = schedule.status()
        Console(file=self.stdout, width=160).print(jobs_table(jobs))  # type: ignore[arg-type]
        failing = [j.job for j in jobs if j.failing]
        if failing:
            raise CommandError(f"Failing scheduled job(s): {', '.join(failing)}")
