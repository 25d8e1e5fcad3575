"""`solde activation_code EAN`: issue a new activation code (a customer lost theirs); it goes
to the customer only, never to the operator's screen."""

from __future__ import annotations

from typing import Annotated

import typer
from django_typer.management import TyperCommand

from solde.identifiers import InvalidIdentifier, validate_ean
from solde.portal.services import issue_activation_code
from solde.registry.models import SupplyPoint


class Command(TyperCommand):
    help = "Issue a new activation code for a supply point and send it like the first one."

    def handle(self, ean: Annotated[str, typer.Argument(help="The 18-digit EAN")]) -> None:
        try:
            ean = validate_ean(ean.replace(" ", ""))
        except InvalidIdentifier as exc:
            raise typer.BadParameter(str(exc)) from exc
        sp = SupplyPoint.objects.select_related("dso").filter(ean=ean).first()
        if sp is None:
            raise typer.BadParameter(f"No supply point has the EAN {ean}.")
        issue_activation_code(sp)
        # Not the code itself: it goes to the customer only; whoever runs this must not be able
        # to activate the customer's portal account in their place.
        self.stdout.write(
            f"New activation code issued for {ean} (valid {sp.dso.activation_code_days} days); "
            "the previous one no longer works. The customer gets it by letter or e-mail."
        )
