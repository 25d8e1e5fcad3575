"""`solde exchange-meter EAN OLD NEW --at … --final 1.8.1=1234.567 … --start 1.8.1=0 …`: record
a meter exchange with the technician's indexes, so consumption continues across it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from django.core.management.base import CommandError
from django_typer.management import TyperCommand

from solde import clock
from solde.readings.services import ExchangeError, exchange_meter
from solde.registry.models import SupplyPoint


def _indexes(pairs: list[str], option: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for pair in pairs:
        register, _, value = pair.partition("=")
        try:
            out[register.strip()] = Decimal(value.strip())
        except InvalidOperation:
            raise CommandError(
                f"{option} {pair!r}: write REGISTER=INDEX, e.g. {option} 1.8.1=1234.567."
            ) from None
    return out


class Command(TyperCommand):
    help = (
        "Replace a supply point's meter: the old meter closes with its final indexes, the new "
        "one opens with its start indexes, both at the exchange instant."
    )

    def handle(
        self,
        ean: Annotated[str, typer.Argument(help="The supply point's EAN.")],
        old: Annotated[str, typer.Argument(help="Serial of the meter taken out.")],
        new: Annotated[str, typer.Argument(help="Serial of the meter put in.")],
        at: Annotated[str, typer.Option("--at", help="Exchange instant, ISO 8601 with an offset.")],
        final: Annotated[
            list[str], typer.Option("--final", help="Old meter's final index: REGISTER=INDEX.")
        ],
        start: Annotated[
            list[str], typer.Option("--start", help="New meter's start index: REGISTER=INDEX.")
        ],
    ) -> None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise CommandError(f"--at {at!r}: write e.g. 2026-11-28T10:00:00+01:00.") from None
        if when.tzinfo is None:
            raise CommandError(f"--at {at!r} needs an offset, e.g. +01:00.")
        supply_point = SupplyPoint.objects.filter(ean=ean.strip()).first()
        if supply_point is None:
            raise CommandError(f"No supply point with EAN {ean}.")
        starts = _indexes(start, "--start")
        try:
            meter = exchange_meter(
                supply_point, old, _indexes(final, "--final"), new, list(starts), starts, when
            )
        except ExchangeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Meter {old} replaced by {meter.serial} on EAN {ean} at "
            f"{clock.local(when).isoformat(timespec='minutes')}."
        )
