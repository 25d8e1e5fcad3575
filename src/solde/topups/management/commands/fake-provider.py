"""`solde fake-provider --port 8010`: the local fake payment provider (Mollie v2 subset)."""

from __future__ import annotations

from typing import Annotated

import typer
from django_typer.management import TyperCommand

from solde.topups.fake_provider import FakeProviderServer


class Command(TyperCommand):
    help = "Serve the fake payment provider (Mollie v2 subset, hosted checkout, webhooks)."

    def handle(
        self,
        port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 8010,
        host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    ) -> None:
        server = FakeProviderServer((host, port))
        self.stdout.write(f"Fake payment provider on {server.url} (API at {server.url}/v2/)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
