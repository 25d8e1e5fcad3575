"""`solde clock show | set INSTANT [--speed X]`: the platform clock (simulation mode to set)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from django.conf import settings
from django.core.management.base import CommandError
from django_typer.management import TyperCommand, command

from solde import clock
from solde.simulation import ClockBackwards, move_clock


class Command(TyperCommand):
    help = "Show or set the platform clock."

    @command()
    def show(self) -> None:
        """Print the platform's current instant (local time)."""
        mode = "simulation" if settings.SIMULATION else "system clock"
        self.stdout.write(f"{clock.local(clock.now()).isoformat()} ({mode})")

    @command()
    def set(
        self,
        instant: Annotated[str, typer.Argument(help="e.g. 2026-11-30T08:00:00+01:00")],
        speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    ) -> None:
        """Set the simulation clock (SOLDE_SIMULATION=1) and run the work due in between."""
        if not settings.SIMULATION:
            raise CommandError("The clock can only be set in simulation mode (SOLDE_SIMULATION=1).")
        try:
            at = datetime.fromisoformat(instant)
        except ValueError:
            raise CommandError(f"'{instant}' is not an ISO 8601 instant.") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=clock.BRUSSELS)
        try:
            ran = move_clock(at, speed)
        except ClockBackwards as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Clock set to {clock.local(at).isoformat()}; {ran} scheduled job(s) ran."
        )
