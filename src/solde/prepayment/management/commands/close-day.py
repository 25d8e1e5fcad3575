"""`solde close-day [--date D] [--ean E]`: close a local day (default yesterday)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer
from django.core.management.base import CommandError
from django_typer.management import TyperCommand
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from solde import clock
from solde.prepayment.close import CloseError, close_day


class Command(TyperCommand):
    help = "Close a local day for every active account (or one EAN), with any earlier day due."

    def handle(
        self,
        day: Annotated[
            str | None, typer.Option("--date", help="Local day YYYY-MM-DD (default: yesterday).")
        ] = None,
        ean: Annotated[str | None, typer.Option("--ean", help="Only this supply point.")] = None,
    ) -> None:
        try:
            target = date.fromisoformat(day) if day else clock.today() - timedelta(days=1)
        except ValueError:
            raise CommandError(f"'{day}' is not a date; use YYYY-MM-DD.") from None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            tasks: dict[date, object] = {}

            def progress(d: date, done: int, total: int) -> None:
                if d not in tasks:
                    tasks[d] = bar.add_task(f"closing {d}", total=total)
                bar.update(tasks[d], completed=done)  # type: ignore[arg-type]

            try:
                result = close_day(target, ean, trigger="command", progress=progress)
            except CloseError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Closed up to {target}: {result.closed} account-day(s) closed, "
            f"{result.waiting_for_data} account(s) waiting for data, "
            f"{result.waiting_for_price} waiting for a price."
        )
        if result.credit_failed:
            self.stderr.write(
                f"{result.credit_failed} credit-control work item(s) failed: the days are "
                "closed and their decisions are retried by the worker; see `solde work failed` "
                "or the admin (Tâches internes)."
            )
        for dso, energy, category, register in sorted(result.missing_prices):
            self.stderr.write(
                f"No price in force for {dso} {energy} {category} {register}: "
                "add it with PUT /api/v1/tariffs, then close again."
            )
