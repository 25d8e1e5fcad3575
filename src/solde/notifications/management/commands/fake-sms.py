"""`solde fake-sms --port 8020`: the fake Twilio (Messages API and webhooks) for the demo."""

from __future__ import annotations

from django.conf import settings
from django_typer.management import TyperCommand

from solde.notifications.fake_twilio import API_VERSION, FakeTwilio


class Command(TyperCommand):
    help = "Serve a fake Twilio Messages API with the configured account SID and auth token."

    def handle(self, port: int = 8020, host: str = "127.0.0.1") -> None:
        fake = FakeTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, host, port)
        self.stdout.write(
            f"Fake Twilio on {fake.url}/{API_VERSION}/Accounts/{fake.account_sid}/Messages.json "
            "(Ctrl-C to stop)"
        )
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            fake.server_close()
