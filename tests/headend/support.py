"""Test support for the head-end: a platform listener and a simulated fleet over one transport
(the in-process broker or the real Mosquitto on 127.0.0.1:1883), pumped from the test thread."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Callable

from solde.headend import adapters
from solde.headend.listener import Listener
from solde.headend.simulator import Simulator

BROKER = "mqtt://127.0.0.1:1883"


def mosquitto_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
        return True
    except OSError:
        return False


class HeadEnd:
    """The platform's listener and a simulator, both on `kind` ("inprocess" or "mqtt")."""

    def __init__(self, kind: str, prefix: str, broker: str = BROKER, **sim_options) -> None:
        self.kind = kind
        self.prefix = prefix
        self.broker = broker
        self.sim_options = {"ack_delay": 0, "exec_delay": 0, **sim_options}
        self.listener = Listener(self.transport("listener"), source="test")
        self.sim: Simulator | None = None
        self.sim_transport = None

    def client_id(self, role: str) -> str:
        return f"test-{role}-{self.prefix.replace('/', '_')}"

    def transport(self, role: str):
        if self.kind == "inprocess":
            return adapters.InProcessTransport()
        cid = self.client_id(role)
        t = adapters.MqttTransport(self.broker, client_id=cid, persistent=True)
        assert t.wait_connected(5), "no connection to Mosquitto"
        return t

    def start_fleet(self, serials: list[str]) -> Simulator:
        self.sim_transport = self.transport("sim")
        self.sim = Simulator(self.sim_transport, **self.sim_options)
        self.sim.setup(serials=serials)
        self.serials = list(serials)
        return self.sim

    def restart_fleet(self) -> Simulator:
        """The fleet reconnects (same client id: its broker session and queued orders wait)."""
        executions = self.sim.executions if self.sim else []
        self.stop_fleet()
        self.sim_transport = self.transport("sim")
        self.sim = Simulator(self.sim_transport, **self.sim_options)
        self.sim.executions = executions
        self.sim.serials = list(self.serials)
        return self.sim

    def stop_fleet(self) -> None:
        if self.sim_transport is not None:
            self.sim_transport.close()
        self.sim_transport = None

    def pump(self, until: Callable[[], bool] = lambda: False, timeout: float = 5.0) -> bool:
        """Step the fleet and apply what comes up until `until()` holds (or time runs out)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.sim is not None and self.sim_transport is not None:
                self.sim.step()
            self.listener.process(wait=0.02 if self.kind == "mqtt" else 0)
            if until():
                return True
            if time.monotonic() > deadline:
                return False
            if self.kind == "inprocess":
                time.sleep(0.001)

    def settle(self, seconds: float = 0.3) -> None:
        """Let in-flight MQTT messages arrive, then apply them."""
        if self.kind == "mqtt":
            self.pump(timeout=seconds)
        else:
            self.pump(timeout=0)

    def close(self) -> None:
        self.stop_fleet()
        self.listener.transport.close()
        if self.kind == "mqtt":  # leave no session behind at the broker
            for role in ("listener", "sim", "meter", "rogue", "sink"):
                adapters.forget_session(self.broker, self.client_id(role))


def new_prefix() -> str:
    return f"solde-test/{uuid.uuid4().hex[:10]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateBroker:
    """A Mosquitto of our own on a random 127.0.0.1 port, persistent, restartable."""

    def __init__(self, folder) -> None:
        self.port = _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "user root\n"
        )
        self.proc: subprocess.Popen | None = None

    def _open(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._open():
            assert time.monotonic() < deadline and self.proc.poll() is None, "no mosquitto"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: Mosquitto saves its sessions
            self.proc.wait(10)
            self.proc = None
