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
        self.stdout.write(f"Solde demo on http://127.0.0.1:{port}/  (admin: /admin/)")
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
