"""`solde portal_demo`: a demo customer login and an activation code to try the portal."""

from __future__ import annotations

from django_typer.management import TyperCommand

from solde.portal.demo import make_portal_logins


class Command(TyperCommand):
    help = "Print a demo customer login and a fresh activation code (demo data only)."

    def handle(self) -> None:
        self.stdout.write(make_portal_logins())
