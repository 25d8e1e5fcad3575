"""`solde ledger verify`: every transaction sums to zero, every stored balance = its entries."""

from __future__ import annotations

from django.core.management.base import CommandError
from django_typer.management import TyperCommand, command, initialize

from solde.ledger.services import verify as verify_ledger


class Command(TyperCommand):
    help = "Ledger checks."

    @initialize(invoke_without_command=False)
    def init(self) -> None:
        """Ledger checks: `solde ledger verify`."""

    @command()
    def verify(self) -> None:
        """Check that every transaction sums to zero and every stored balance is the sum of its
        entries; exits non-zero and lists the offenders when not."""
        report = verify_ledger()
        for key in report.unbalanced:
            self.stderr.write(f"unbalanced transaction: {key}")
        for code, stored, total in report.wrong_balances:
            self.stderr.write(
                f"wrong stored balance: {code} stores {stored} cents, its entries sum to {total}"
            )
        if not report.ok:
            raise CommandError(
                f"Ledger NOT consistent: {len(report.unbalanced)} unbalanced transaction(s), "
                f"{len(report.wrong_balances)} account(s) with a wrong stored balance."
            )
        self.stdout.write(f"Ledger OK: {report.transactions} transactions balanced.")
