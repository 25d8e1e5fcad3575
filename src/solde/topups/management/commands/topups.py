"""`solde topups reconcile`: poll the provider for online payments left open."""

from __future__ import annotations

from django_typer.management import TyperCommand, command

from solde.topups import online
from solde.topups.models import OPEN_PAYMENT_STATUSES, OnlinePayment, WebhookCall


class Command(TyperCommand):
    help = "Online top-up maintenance."

    @command()
    def reconcile(self) -> None:
        """Re-fetch open or paid-not-credited payments and unhandled webhooks; credit once."""
        r = online.reconcile()
        self.stdout.write(
            f"Checked {r['checked']} payment(s), credited {r['credited']}, "
            f"{r['errors']} could not be reached (will be retried)."
        )

    @command()
    def status(self) -> None:
        """How many payments are open and webhooks wait."""
        open_ = OnlinePayment.objects.filter(status__in=OPEN_PAYMENT_STATUSES).count()
        waiting = WebhookCall.objects.filter(handled_at__isnull=True).count()
        unpaid = OnlinePayment.objects.filter(status="paid", topup__isnull=True).count()
        self.stdout.write(
            f"{open_} open payment(s), {unpaid} paid not credited, {waiting} webhook(s) waiting."
        )
