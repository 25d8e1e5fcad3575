"""The head-end link as in production: Mosquitto with deploy/mosquitto/ (TLS listeners, password
file, per-topic ACLs), on a private broker started for these tests on free 127.0.0.1 ports
(the shared broker on 1883 is not touched). Certificates: a throwaway CA made with openssl."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from solde.headend import adapters, topics
from solde.headend.adapters import MqttTransport
from solde.headend.listener import Listener
from solde.headend.simulator import Simulator
from solde.orders.models import Order
from solde.orders.services import dispatch_due, request_order
from tests.conftest import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PLATFORM = ("solde-platform", "platform-password-made-up")
PREFIX = "solde/v1"  # the prefix the deployed ACL names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip


def _signed(folder: Path, ca: str, name: str, cn: str, san: str = "") -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
        cwd=folder,
    )  # fmt: skip
    extra = ["-extfile", "ext.cnf"] if san else []
    if san:
        (folder / "ext.cnf").write_text(f"subjectAltName={san}\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra,
        cwd=folder,
    )  # fmt: skip


class TlsBroker:
    """A private Mosquitto running deploy/mosquitto/solde.conf and solde.acl."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.cert_port = _free_port(), _free_port()
        _ca(folder, "ca")
        _ca(folder, "other-ca")
        _signed(folder, "ca", "server", "127.0.0.1", san="IP:127.0.0.1,DNS:localhost")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def start(self, users: dict[str, str]) -> None:
        f = self.folder
        passwd = f / "solde.passwd"
        passwd.touch()
        for user, password in users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        shutil.copy(DEPLOY / "solde.acl", f / "solde.acl")
        conf = (DEPLOY / "solde.conf").read_text()
        conf = (
            conf.replace("/etc/mosquitto/certs/", f"{f}/")
            .replace("/etc/mosquitto/", f"{f}/")
            .replace("/var/lib/mosquitto/", f"{f}/")
            .replace("listener 8883", f"listener {self.port} 127.0.0.1")
            .replace("listener 8884", f"listener {self.cert_port} 127.0.0.1")
        )
        # Only for this private broker: stay the user running the tests, log to a file.
        conf += f"\nuser {_current_user()}\nlog_dest file {f}/mosquitto.log\nlog_type all\n"
        (f / "mosquitto.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(f / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        if not _wait(listening, 10):
            self.stop()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"Mosquitto did not start: {err} {self.log()}")

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text() if path.exists() else ""

    def client(self, user: str, password: str, ca: str = "ca", **kw) -> MqttTransport:
        return MqttTransport(
            self.url,
            username=user,
            password=password,
            ca_file=str(self.folder / f"{ca}.crt"),
            cert_file="",
            key_file="",
            **kw,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _current_user() -> str:
    import getpass

    return getpass.getuser()


@pytest.fixture
def tls_broker(tmp_path):
    require("mosquitto", shutil.which("mosquitto") is not None)
    require("mosquitto_passwd", shutil.which("mosquitto_passwd") is not None)
    require("openssl", shutil.which("openssl") is not None)
    broker = TlsBroker(tmp_path)
    yield broker
    broker.stop()


class Collector:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, topic, payload, ack) -> None:
        with self.lock:
            self.got.append((topic, payload))
        ack()

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.got]


@pytest.mark.django_db(transaction=True)
def test_platform_and_meter_exchange_an_order_over_tls(tls_broker, settings, account_with, monday):
    """Solde's own dispatcher, listener and simulator, through mqtts:// with the platform's
    and the meter's own logins, under the deployed ACL."""
    meter = account_with(500).supply_point.meters.get()
    tls_broker.start({PLATFORM[0]: PLATFORM[1], meter.serial: "meter-password-made-up"})
    settings.HEADEND_URL = tls_broker.url
    settings.HEADEND_TOPIC_PREFIX = PREFIX
    settings.MQTT_CA_FILE = str(tls_broker.folder / "ca.crt")
    settings.MQTT_USERNAME, settings.MQTT_PASSWORD = PLATFORM
    adapters.reset()
    listener_transport = adapters.make_transport(client_id="test-tls-listener")
    meter_transport = tls_broker.client(meter.serial, "meter-password-made-up")
    try:
        assert listener_transport.wait_connected(10), tls_broker.log()
        assert meter_transport.wait_connected(10), tls_broker.log()
        listener = Listener(listener_transport, source="test")
        sim = Simulator(meter_transport, ack_delay=0, exec_delay=0)
        sim.setup(serials=[meter.serial])
        order = request_order(meter.pk, "display_balance", "after close")
        dispatch_due()  # (after commit it may already have left: then nothing is due)
        # Published by the platform over TLS and PUBACKed by the broker.
        assert Order.objects.get(pk=order.pk).status == "sent"

        def executed() -> bool:
            sim.step()
            listener.process(wait=0.02)
            return Order.objects.get(pk=order.pk).status == "executed"

        assert _wait(executed, 15), tls_broker.log()
    finally:
        meter_transport.close()
        listener_transport.close()
        adapters.reset()


def test_a_meter_can_only_use_its_own_topics(tls_broker):
    tls_broker.start(
        {PLATFORM[0]: PLATFORM[1], "1000001": "meter-a-password", "1000002": "meter-b-password"}
    )
    platform = tls_broker.client(*PLATFORM)
    meter_a = tls_broker.client("1000001", "meter-a-password")
    meter_b = tls_broker.client("1000002", "meter-b-password")
    try:
        for t in (platform, meter_a, meter_b):
            assert t.wait_connected(10), tls_broker.log()
        up, a_inbox, b_inbox = Collector(), Collector(), Collector()
        platform.subscribe([f"{PREFIX}/meters/+/{leaf}" for leaf in topics.UP], up)
        meter_a.subscribe([f"{PREFIX}/meters/1000002/orders"], a_inbox)  # B's orders
        meter_a.subscribe([f"{PREFIX}/meters/1000001/orders"], a_inbox)
        meter_b.subscribe([f"{PREFIX}/meters/1000002/orders"], b_inbox)

        # A forges a reading and an order result as meter B: the broker drops them.
        meter_a.publish(f"{PREFIX}/meters/1000002/readings", {"forged": True})
        meter_a.publish(f"{PREFIX}/meters/1000002/order-results", {"forged": True})
        # A meter cannot send orders, to itself or another meter.
        meter_a.publish(f"{PREFIX}/meters/1000002/orders", {"forged": True})
        # What is allowed goes through.
        meter_a.publish(f"{PREFIX}/meters/1000001/readings", {"ok": "a"})
        platform.publish(f"{PREFIX}/meters/1000002/orders", {"order": "for-b"})
        platform.publish(f"{PREFIX}/meters/1000001/orders", {"order": "for-a"})

        assert _wait(lambda: len(up.got) >= 1 and b_inbox.got and a_inbox.got)
        time.sleep(0.5)  # anything forbidden that was going to arrive has arrived
        assert up.got == [(f"{PREFIX}/meters/1000001/readings", {"ok": "a"})]
        assert b_inbox.got == [(f"{PREFIX}/meters/1000002/orders", {"order": "for-b"})]
        # A never reads B's orders, only its own.
        assert a_inbox.got == [(f"{PREFIX}/meters/1000001/orders", {"order": "for-a"})]
        # The platform may not pretend to be a meter either.
        platform.publish(f"{PREFIX}/meters/1000001/readings", {"forged": "platform"})
        time.sleep(0.5)
        assert len(up.got) == 1
    finally:
        for t in (platform, meter_a, meter_b):
            t.close()


def test_wrong_ca_wrong_password_and_clear_text_are_refused(tls_broker):
    tls_broker.start({PLATFORM[0]: PLATFORM[1]})
    # The broker's certificate is not signed by the CA we trust: no connection.
    stranger = tls_broker.client(*PLATFORM, ca="other-ca")
    wrong_password = tls_broker.client(PLATFORM[0], "not-the-password")
    clear = MqttTransport(
        f"mqtt://127.0.0.1:{tls_broker.port}", username=PLATFORM[0], password=PLATFORM[1]
    )
    good = tls_broker.client(*PLATFORM)
    try:
        assert good.wait_connected(10), tls_broker.log()
        for refused in (stranger, wrong_password, clear):
            assert not refused.wait_connected(2)
            assert refused.publish(f"{PREFIX}/meters/1000001/orders", {"x": 1}) is False
        assert good.publish(f"{PREFIX}/meters/1000001/orders", {"x": 1}) is True
    finally:
        for t in (stranger, wrong_password, clear, good):
            t.close()


def test_a_meter_with_a_client_certificate_is_known_by_its_cn(tls_broker):
    """The second listener wants a client certificate; its CN is the user name the ACL sees."""
    _signed(tls_broker.folder, "ca", "meter", "1000001")
    _signed(tls_broker.folder, "other-ca", "stranger", "1000001")
    tls_broker.start({PLATFORM[0]: PLATFORM[1]})
    f = tls_broker.folder
    cert_url = f"mqtts://127.0.0.1:{tls_broker.cert_port}"

    def with_cert(name: str) -> MqttTransport:
        return MqttTransport(
            cert_url,
            username="",
            password="",
            ca_file=str(f / "ca.crt"),
            cert_file=str(f / f"{name}.crt"),
            key_file=str(f / f"{name}.key"),
        )

    platform = tls_broker.client(*PLATFORM)
    meter, stranger = with_cert("meter"), with_cert("stranger")
    try:
        assert platform.wait_connected(10) and meter.wait_connected(10), tls_broker.log()
        assert not stranger.wait_connected(2)  # a certificate from another CA
        up = Collector()
        platform.subscribe([f"{PREFIX}/meters/+/readings"], up)
        meter.publish(f"{PREFIX}/meters/1000002/readings", {"forged": True})
        meter.publish(f"{PREFIX}/meters/1000001/readings", {"ok": True})
        assert _wait(lambda: up.got)
        time.sleep(0.3)
        assert up.topics() == [f"{PREFIX}/meters/1000001/readings"]
    finally:
        for t in (platform, meter, stranger):
            t.close()
