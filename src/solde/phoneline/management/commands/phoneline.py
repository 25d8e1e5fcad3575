"""`solde phoneline REFERENCE`: print what the phone line would say for a customer reference."""

from __future__ import annotations

from typing import Annotated

import typer
from django.core.management import CommandError
from django_typer.management import TyperCommand

from solde.phoneline import rules, services


class Command(TyperCommand):
    help = "Print what the balance phone line would say for a customer reference."

    def handle(
        self,
        reference: Annotated[str, typer.Argument(help="13 digits (spaces, dots, dashes allowed).")],
        language: Annotated[
            str | None,
            typer.Option("--language", "-l", help="fr, nl, de or en (default: the customer's)."),
        ] = None,
    ) -> None:
        if language and language not in rules.LANGUAGES:
            raise CommandError(f"Choose the language among {', '.join(rules.LANGUAGES)}.")
        try:
            summary = services.phone_summary(reference)
        except services.NoBalance as exc:
            self.stdout.write(rules.say("not_found", language))
            raise CommandError(str(exc)) from None
        self.stdout.write(rules.speak(summary, language))
