"""`solde fake-sms --port 8020`: the fake SMS gateway for the demo and tests."""

from __future__ import annotations

from django_typer.management import TyperCommand

from solde.notifications.fake_sms import FakeSmsGateway


class Command(TyperCommand):
    help = "Serve a fake SMS gateway: POST /messages {to, text}; GET /messages lists them."

    def handle(self, port: int = 8020, host: str = "127.0.0.1") -> None:
        gateway = FakeSmsGateway(host, port)
        self.stdout.write(f"Fake SMS gateway on {gateway.url}/messages (Ctrl-C to stop)")
        try:
            gateway.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            gateway.server.server_close()
