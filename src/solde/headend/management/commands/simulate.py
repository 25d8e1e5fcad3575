"""`solde simulate --meters N`: run the simulated meter fleet against the head-end."""

from __future__ import annotations

import signal
import socket
import threading

from django.conf import settings
from django_typer.management import TyperCommand
from rich.console import Console


class Command(TyperCommand):
    help = "Simulate Siconia-like meters for the supply points in the database."

    def handle(
        self,
        meters: int = 100,
        mqtt: str = "",
        speed: float = 0.0,
        failure_rate: float = 0.0,
        ack_delay: float = 2.0,
        exec_delay: float = 5.0,
        interval: float = 0.5,
        seed: int = 0,
        journal: str = "",
    ) -> None:
        """--meters N: how many meters of the registry; --mqtt URL: broker (default
        SOLDE_HEADEND_URL); --speed X: run the platform clock X times faster (simulation mode);
        --failure-rate F: share of orders that fail or get no answer; --journal FILE: append
        every message the broker acknowledged (readings, order results), one JSON line each,
        fsynced (the chaos suite compares it with the database)."""
        from solde import clock
        from solde.headend import topics
        from solde.headend.adapters import make_transport
        from solde.headend.simulator import Simulator

        console = Console()
        url = mqtt or settings.HEADEND_URL
        if url == "inprocess":
            console.print(
                "The in-process head-end lives inside `solde demo`; give --mqtt "
                "mqtt://127.0.0.1:1883 to simulate against a broker."
            )
            raise SystemExit(2)
        if speed:
            if not settings.SIMULATION:
                console.print("--speed needs simulation mode (SOLDE_SIMULATION=1); ignored.")
            else:
                clock.set_simulated(clock.now(), speed=speed)
        cid = f"solde-sim-{socket.gethostname()}-{topics.prefix()}".replace("/", "_")
        transport = make_transport(client_id=cid, persistent=True, url=url)
        sim = Simulator(
            transport,
            failure_rate=failure_rate,
            ack_delay=ack_delay,
            exec_delay=exec_delay,
            seed=seed,
            journal=journal or None,
        )
        count = sim.setup(meters)
        console.print(
            f"Simulating {count} meter(s) on {url} under {topics.prefix()} (Ctrl-C stops)"
        )
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        totals = {"orders": 0, "answers": 0, "readings": 0, "events": 0}
        with console.status("running") as status:
            while not stop.is_set():
                counts = sim.step()
                for k, v in counts.items():
                    totals[k] += v
                status.update(
                    f"{clock.local(clock.now()):%Y-%m-%d %H:%M}  readings {totals['readings']}  "
                    f"orders {totals['orders']}  answers {totals['answers']}"
                )
                stop.wait(interval)
        transport.close()
        console.print(f"Stopped: {totals}")
