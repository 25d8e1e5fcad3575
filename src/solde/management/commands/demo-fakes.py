"""`solde demo-fakes`: the demo's stand-ins for what we cannot reach — the fake payment
provider, the fake Twilio (SMS) and an SMTP server keeping each e-mail in var/mail/ — until
stopped (a process of Procfile.demo)."""

from __future__ import annotations

from django_typer.management import TyperCommand

from solde.management.commands.demo import (
    _start_fake_payment_provider,
    _start_fake_sms_gateway,
    _start_mail_catcher,
    _Stop,
)


class Command(TyperCommand):
    help = "Run the demo's fake payment provider, fake Twilio (SMS) and mail catcher."

    def handle(self) -> None:
        stop = _Stop()
        _start_fake_payment_provider(self.stdout)
        gateway = _start_fake_sms_gateway(self.stdout)
        mail = _start_mail_catcher(self.stdout)
        self.stdout.flush()
        stop.wait()
        if gateway is not None:
            gateway.stop()
        if mail is not None:
            mail.stop()
