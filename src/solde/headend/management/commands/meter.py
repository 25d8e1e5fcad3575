"""`solde meter show SERIAL` / `solde meter press SERIAL`: a simulated meter's display and
button."""

from __future__ import annotations

from django.conf import settings
from django.core.management import CommandError
from django_typer.management import TyperCommand, command


class Command(TyperCommand):
    help = "Look at a simulated meter's display or press its button."

    @command()
    def show(self, serial: str) -> None:
        """Print the display pages like the meter: indexes, then 94.32.2 (1 = last balance
        update, 2 = balance, 3 = emergency credit), relay and limiter."""
        from solde.headend.simulator import UnknownMeter, display_pages

        try:
            pages = display_pages(serial)
        except UnknownMeter:
            raise CommandError(
                f"No simulated meter {serial}: start `solde simulate` (or the demo) first."
            ) from None
        self.stdout.write(f"Meter {serial}")
        for code, text in pages:
            self.stdout.write(f"  {code:<10} {text:>20}")

    @command()
    def press(self, serial: str) -> None:
        """Press the meter's button: a meter ready for reconnection reconnects."""
        from solde.headend.adapters import make_transport
        from solde.headend.simulator import UnknownMeter, flush_outbox, press_button

        try:
            before, relay = press_button(serial)
        except UnknownMeter:
            raise CommandError(
                f"No simulated meter {serial}: start `solde simulate` (or the demo) first."
            ) from None
        if before == relay:
            self.stdout.write(f"Meter {serial}: relay {relay}; the button does nothing now.")
            return
        if settings.HEADEND_URL.startswith(("mqtt://", "mqtts://")):
            transport = make_transport()
            flush_outbox(serial, transport)
            transport.close()
        self.stdout.write(f"Meter {serial}: reconnected (relay connected).")
