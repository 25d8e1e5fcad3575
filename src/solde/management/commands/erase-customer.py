"""`solde erase-customer`: the GDPR erasure of a closed customer after the retention period,
through the same audited service as the console (the supervisor named answers for it)."""

from __future__ import annotations

from typing import Annotated

import typer
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError
from django.db.models import Q
from django_typer.management import TyperCommand

from solde.backoffice import services
from solde.registry.models import Customer


def find_customer(who: str) -> Customer:
    """A customer by id, EAN or customer reference."""
    who = who.strip()
    query = Q(supply_points__ean=who) | Q(supply_points__customer_reference=who)
    if who.isdigit() and len(who) < 13:
        query |= Q(pk=int(who))
    found = list(Customer.objects.filter(query).distinct()[:2])
    if len(found) != 1:
        raise CommandError(f"No single customer matches {who!r}.")
    return found[0]


class Command(TyperCommand):
    help = "Erase the person behind a closed customer (GDPR), keeping the ledger."

    def handle(
        self,
        customer: Annotated[str, typer.Argument(help="Customer id, EAN or customer reference.")],
        operator: Annotated[str, typer.Option(help="Username of the supervisor answering for it.")],
        reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
        dry_run: Annotated[
            bool, typer.Option(help="Show what would change; write nothing.")
        ] = False,
    ) -> None:
        user = get_user_model().objects.filter(username=operator).first()
        if user is None:
            raise CommandError(f"No operator {operator!r}.")
        c = find_customer(customer)
        try:
            plan = services.erase_customer(user, c, reason, dry_run=dry_run)
        except PermissionDenied as exc:
            raise CommandError(f"{operator} may not erase customers (supervisors only).") from exc
        except services.ActionError as exc:
            raise CommandError(str(exc)) from exc
        head = "Would erase" if dry_run else "Erased"
        self.stdout.write(
            f"{head} customer {plan.customer_id} (last account closed {plan.closed_at:%Y-%m-%d}):"
        )
        for line in plan.lines():
            self.stdout.write(f"  {line}")
