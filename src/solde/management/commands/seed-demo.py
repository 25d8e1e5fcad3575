"""`solde seed-demo [--supply-points 300] [--days 60]`: the demo fleet, its history and logins."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from solde.demo import fleet as demo


class Command(TyperCommand):
    help = "Seed a made-up demo fleet (RESA and ORES) with history, a demo operator and API keys."

    def handle(
        self,
        supply_points: Annotated[
            int, typer.Option("--supply-points", min=2, help="How many supply points.")
        ] = 300,
        days: Annotated[int, typer.Option("--days", min=1, max=400, help="Days of history.")] = 60,
    ) -> None:
        started = time.monotonic()
        with Progress(
            TextColumn("Seeding supply points and readings"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("seed", total=supply_points)
            try:
                report = demo.seed(
                    supply_points, days, progress=lambda n: bar.update(task, completed=n)
                )
            except demo.FleetExists as exc:
                raise CommandError(str(exc)) from None
        logins = demo.make_logins()
        elapsed = time.monotonic() - started
        r = report
        per_dso = ", ".join(f"{k} {v}" for k, v in sorted(r.by_dso.items()))
        self.stdout.write(
            f"Seeded {r.supply_points} supply points ({per_dso}): "
            f"{r.electricity} electricity ({r.solar} with solar panels), {r.gas} gas, "
            f"{r.social} at the social tariff, {r.protected} protected."
        )
        self.stdout.write(
            f"{r.readings:,} readings from {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M} UTC, "
            f"{r.topups} top-ups; {r.troubled} households heading for low or emergency credit, "
            f"{r.pending} meters not communicating yet (account pending). "
            f"Done in {elapsed:.1f} s."
        )
        self.stdout.write(logins)
