"""`solde activation_code EAN`: issue a new activation code (a customer lost theirs)."""

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
        code = issue_activation_code(sp)
        self.stdout.write(
            f"Activation code for {ean}: {code} (valid {sp.dso.activation_code_days} days; "
            "the customer also gets it by letter or e-mail)."
        )
