"""`solde notifications render|send`: turn events into messages, send what is due."""

from __future__ import annotations

from django_typer.management import TyperCommand, command


class Command(TyperCommand):
    help = "Customer notifications: render events into messages and send the due ones."

    @command()
    def render(self) -> None:
        """Turn unhandled events into messages."""
        from solde.notifications.services import render_events

        self.stdout.write(f"{render_events()} message(s) created")

    @command()
    def send(self) -> None:
        """Render new events, then send every due message (with retries and SMS quiet hours)."""
        from solde.notifications.services import render_events, send_due

        created = render_events()
        counts = send_due()
        self.stdout.write(
            f"{created} message(s) created; sent {counts['sent']}, to retry {counts['retry']}, "
            f"failed {counts['failed']}"
        )
