"""`solde work drain` / `solde work failed`: the durable internal work (solde.work)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django_typer.management import TyperCommand, command, initialize

from solde import work
from solde.models import WorkItem, WorkStatus


class Command(TyperCommand):
    help = "Durable internal work."

    @initialize(invoke_without_command=False)
    def init(self) -> None:
        """Durable internal work: `solde work drain`, `solde work failed`."""

    @command()
    def drain(self) -> None:
        """Do the work that is due now (what the worker does every minute); exits non-zero
        when some of it failed (the failures are kept, with their traceback, for a retry)."""
        result = work.drain()
        self.stdout.write(f"Work done: {result.done} item(s); failed: {result.failed}.")
        if result.failed:
            raise CommandError(
                f"{result.failed} work item(s) failed ({result.dead} given up): "
                "see `solde work failed` or the admin (Tâches internes)."
            )

    @command()
    def failed(self) -> None:
        """List the work that failed and is waiting for a retry or an operator."""
        rows = (
            WorkItem.objects.exclude(status=WorkStatus.DONE)
            .filter(attempts__gt=0)
            .order_by("next_attempt_at")
        )
        for item in rows:
            last = (item.last_error.strip().splitlines() or [""])[-1]
            self.stdout.write(
                f"{item.key}  {item.status}  attempts={item.attempts}  "
                f"next={item.next_attempt_at:%Y-%m-%d %H:%M:%S}  {last}"
            )
