"""`solde apikey create NAME --scope S…`, `solde apikey list`, `solde apikey revoke NAME`."""

from __future__ import annotations

from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand, command

from solde.api import keys
from solde.api.models import ApiKey, Scope


class Command(TyperCommand):
    help = "Manage the integration API keys (API.md): create, list, revoke."

    @command()
    def create(
        self,
        name: Annotated[str, typer.Argument(help="A name for the key, e.g. the integrator.")],
        scope: Annotated[
            list[str],
            typer.Option(
                "--scope", "-s", help=f"A scope to grant (repeat): {', '.join(Scope.values)}."
            ),
        ],
        channel: Annotated[
            str,
            typer.Option(
                "--channel",
                help="With --scope topups: the partner's channel (terminal, retail or cpas).",
            ),
        ] = "",
    ) -> None:
        """Create a key and print it once (only its hash is stored)."""
        name = name.strip()
        if not name:
            raise CommandError("Give the key a name.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"A key named '{name}' exists already: choose another name.")
        try:
            key, plaintext = keys.create_key(name, scope, channel)
        except keys.InvalidScope as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"API key '{key.name}' with scopes {', '.join(key.scopes)}:")
        self.stdout.write(plaintext)
        self.stdout.write(
            "Keep it now: it is shown only once. Send it as 'Authorization: Bearer <key>'."
        )

    @command(name="list")
    def list_keys(self) -> None:
        """List the keys (never the keys themselves)."""
        rows = list(ApiKey.objects.order_by("name"))
        if not rows:
            self.stdout.write("No API key yet: solde apikey create NAME --scope SCOPE")
            return
        self.stdout.write(f"{'name':<30} {'prefix':<10} {'scopes':<36} {'last used':<20} state")
        for k in rows:
            used = k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never"
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            self.stdout.write(
                f"{k.name:<30} {k.prefix:<10} {','.join(k.scopes):<36} {used:<20} {state}"
            )

    @command()
    def revoke(
        self, name: Annotated[str, typer.Argument(help="The name of the key to revoke.")]
    ) -> None:
        """Revoke a key: it stops working at once."""
        key = ApiKey.objects.filter(name=name).first()
        if key is None:
            raise CommandError(f"No API key named '{name}': see solde apikey list.")
        if key.revoked_at:
            self.stdout.write(f"Key '{name}' was already revoked on {key.revoked_at:%Y-%m-%d}.")
            return
        keys.revoke_keys([key.pk])
        self.stdout.write(f"Key '{name}' revoked.")
