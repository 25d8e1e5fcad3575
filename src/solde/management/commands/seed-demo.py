"""`solde seed-demo [--supply-points 300] [--days 60]`: the demo fleet, its history and logins."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from django.conf import settings
from django.core.management import CommandError
from django.db import transaction
from django_typer.management import TyperCommand
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from solde.registry import demo

DEMO_KEYS = [
    ("demo-registry", ["registry", "read"]),
    ("demo-readings", ["readings", "read"]),
    ("demo-topups", ["topups", "read"]),
    ("demo-operations", ["operations", "read"]),
]


def logins_file():
    return settings.DATA_DIR / "demo-logins.txt"


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
                report = demo.seed(supply_points, days, progress=lambda n: bar.update(task, completed=n))
            except demo.FleetExists as exc:
                raise CommandError(str(exc)) from None
        logins = make_logins()
        elapsed = time.monotonic() - started
        r = report
        self.stdout.write(
            f"Seeded {r.supply_points} supply points ({', '.join(f'{k} {v}' for k, v in sorted(r.by_dso.items()))}): "
            f"{r.electricity} electricity ({r.solar} with solar panels), {r.gas} gas, "
            f"{r.social} at the social tariff, {r.protected} protected."
        )
        self.stdout.write(
            f"{r.readings:,} readings from {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M} UTC, "
            f"{r.topups} top-ups; {r.troubled} households heading for low or emergency credit. "
            f"Done in {elapsed:.1f} s."
        )
        self.stdout.write(logins)


def make_logins() -> str:
    """The demo operator (admin/admin — demo only) and one API key per scope, kept in
    var/demo-logins.txt so `solde demo` can show them again (keys are otherwise shown once)."""
    from django.contrib.auth import get_user_model

    from solde.api.keys import create_key
    from solde.api.models import ApiKey

    User = get_user_model()
    lines = [
        f"Admin:   {settings.SITE_URL}/admin/  user admin  password admin  (demo only)",
        f"API:     {settings.SITE_URL}/api/v1/docs",
    ]
    with transaction.atomic():
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.org", "admin")
        for name, scopes in DEMO_KEYS:
            if ApiKey.objects.filter(name=name).exists():
                continue
            _, plaintext = create_key(name, scopes)
            lines.append(f"API key {name:<16} ({', '.join(scopes)}): {plaintext}")
    text = "\n".join(lines)
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(0o600)
    return text
