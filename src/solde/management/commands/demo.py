"""`solde demo`: migrate the embedded database, seed demo data once, serve on :8000."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django_typer.management import TyperCommand


class Command(TyperCommand):
    help = "Run the demo: migrate, seed demo data on first run, serve on http://127.0.0.1:8000."

    def handle(self, port: int = 8000) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0)
        _start_fake_payment_provider(self.stdout)
        self.stdout.write(f"Solde demo on http://127.0.0.1:{port}/  (admin: /admin/)")
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)


def _start_fake_payment_provider(out) -> None:
    """The demo takes online top-ups through the local fake provider (PAYMENT_PROVIDER=fake)."""
    from urllib.parse import urlparse

    if settings.PAYMENT_PROVIDER != "fake":
        return
    from solde.topups import fake_provider

    url = urlparse(settings.PAYMENT_PROVIDER_URL)
    try:
        server = fake_provider.start(url.port or 8010, url.hostname or "127.0.0.1")
    except OSError:
        out.write(f"Fake payment provider not started: {settings.PAYMENT_PROVIDER_URL} is busy.")
        return
    out.write(f"Fake payment provider on {server.url}/")
