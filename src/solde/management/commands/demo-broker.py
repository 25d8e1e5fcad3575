"""`solde demo-broker`: an MQTT broker for the demo only (amqtt, pure Python, 127.0.0.1), so
the head-end listener and the simulated meters talk real MQTT between processes without a
server to install. Production uses Mosquitto (docs/decisions/0008-demo-processes.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from django_typer.management import TyperCommand

from solde.management.commands.demo import DEMO_MQTT_PORT


async def serve(port: int, stop: asyncio.Event) -> None:
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    await stop.wait()
    await broker.shutdown()


class Command(TyperCommand):
    help = "Run the demo's MQTT broker on 127.0.0.1 (demo only: production uses Mosquitto)."

    def handle(
        self,
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = DEMO_MQTT_PORT,
    ) -> None:
        logging.getLogger("amqtt").setLevel(logging.WARNING)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            self.stdout.write(f"MQTT broker (demo) on mqtt://127.0.0.1:{port}")
            self.stdout.flush()
            await serve(port, stop)

        asyncio.run(main())
