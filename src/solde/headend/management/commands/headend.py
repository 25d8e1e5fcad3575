"""`solde headend listen`: consume what meters send up (readings, order results, events)."""

from __future__ import annotations

import signal
import socket

from django.conf import settings
from django_typer.management import TyperCommand, command


class Command(TyperCommand):
    help = "Head-end link: `solde headend listen` applies what meters send up."

    @command()
    def listen(self, dispatch_every: float = 5.0, client_id: str = "") -> None:
        """Consume readings, order results and meter events until interrupted (Ctrl-C).

        Uses a persistent MQTT session: messages sent while the listener is down wait at the
        broker and are applied when it comes back."""
        from solde.headend import topics
        from solde.headend.adapters import make_transport
        from solde.headend.listener import Listener

        url = settings.HEADEND_URL
        if url == "inprocess":
            self.stderr.write(
                "HEADEND_URL is 'inprocess': the listener runs inside `solde demo`. "
                "Set SOLDE_HEADEND_URL=mqtt://127.0.0.1:1883 to listen to a broker."
            )
            raise SystemExit(2)
        cid = client_id or f"solde-listener-{socket.gethostname()}-{topics.prefix()}"
        transport = make_transport(client_id=cid.replace("/", "_"), persistent=True)
        listener = Listener(transport, source=f"headend:{url}")
        stopping = {"now": False}

        def stop(*_):
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Listening on {url} under {topics.prefix()}/meters/+/… (Ctrl-C stops)")
        listener.run(stop=lambda: stopping["now"], dispatch_every=dispatch_every)
        while listener.process():
            pass
        transport.close()
        self.stdout.write(f"Stopped. Applied: {listener.counts}")

    @command()
    def status(self) -> None:
        """Orders by status, and meters whose reported state drifted from the desired one."""
        from django.db.models import Count

        from solde.orders.models import MeterShadow, Order

        for row in Order.objects.values("status").annotate(n=Count("pk")).order_by("status"):
            self.stdout.write(f"  {row['status']:<13} {row['n']:>8}")
        drift = [s for s in MeterShadow.objects.filter(reported_at__isnull=False) if not s.in_sync]
        self.stdout.write(f"Meters out of sync: {len(drift)}")
        for s in drift[:20]:
            self.stdout.write(
                f"  {s.meter_id}: desired {s.desired_relay}/{s.desired_limiter_amps or '-'}, "
                f"reported {s.reported_relay}/{s.reported_limiter_amps or '-'}"
            )
