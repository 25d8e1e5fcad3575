"""Head-end transports: MQTT (paho-mqtt, a real broker) and in-process (the embedded demo).

Both offer the same calls — `publish(topic, payload) -> bool` (True once the broker has
the message), `subscribe(filters, handler)`, `redeliver()` and `close()`. A handler receives
(topic, payload, ack): it must call `ack()` once the message is safely handled (its effect
committed), so a message is never lost between the broker and the database (MQTT QoS 1 with
manual acknowledgement). A message left unacknowledged comes back after `redeliver()`: MQTT
3.1.1 resends unacknowledged messages only when the session reconnects, so the MQTT transport
reconnects its persistent session; the in-process one re-sends what it holds.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote, urlparse

from django.conf import settings

log = logging.getLogger(__name__)

Handler = Callable[[str, dict, Callable[[], None]], None]


class Transport(Protocol):
    def publish(self, topic: str, payload: dict) -> bool: ...

    def publish_many(self, messages: list[tuple[str, dict]]) -> list[bool]: ...

    def subscribe(self, filters: list[str], handler: Handler) -> None: ...

    def redeliver(self) -> None: ...

    def close(self) -> None: ...


def topic_matches(pattern: str, topic: str) -> bool:
    p, t = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(p) == len(t)


class InProcessBroker:
    """A tiny in-memory broker: messages go straight to the matching subscribers' handlers."""

    def __init__(self) -> None:
        self._subs: list[tuple[list[str], Handler]] = []
        self._lock = threading.Lock()

    def subscribe(self, filters: list[str], handler: Handler) -> None:
        with self._lock:
            self._subs.append((list(filters), handler))

    def unsubscribe(self, handler: Handler) -> None:
        with self._lock:
            self._subs = [(f, h) for f, h in self._subs if h is not handler]

    def publish(self, topic: str, payload: dict) -> bool:
        with self._lock:
            targets = [h for f, h in self._subs if any(topic_matches(p, topic) for p in f)]
        # No subscriber means nobody received it: the dispatcher retries later.
        for handler in targets:
            handler(topic, json.loads(json.dumps(payload)), lambda: None)
        return bool(targets)

    def reset(self) -> None:
        with self._lock:
            self._subs = []


BROKER = InProcessBroker()


class InProcessTransport:
    """Like a QoS 1 session: what a subscriber has not acknowledged is kept and delivered again
    by `redeliver()`."""

    def __init__(self, broker: InProcessBroker = BROKER) -> None:
        self.broker = broker
        self._handlers: list[Handler] = []
        self._unacked: dict[int, tuple[str, dict, Handler]] = {}
        self._tokens = iter(range(1, 2**62))
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: dict) -> bool:
        return self.broker.publish(topic, payload)

    def publish_many(self, messages: list[tuple[str, dict]]) -> list[bool]:
        return [self.broker.publish(t, p) for t, p in messages]

    def _deliver(self, handler: Handler, topic: str, payload: dict) -> None:
        with self._lock:
            token = next(self._tokens)
            self._unacked[token] = (topic, payload, handler)

        def ack() -> None:
            with self._lock:
                self._unacked.pop(token, None)

        handler(topic, payload, ack)

    def subscribe(self, filters: list[str], handler: Handler) -> None:
        def receive(topic: str, payload: dict, _ack: Callable[[], None]) -> None:
            self._deliver(handler, topic, payload)

        self._handlers.append(receive)
        self.broker.subscribe(filters, receive)

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._unacked)

    def redeliver(self) -> None:
        with self._lock:
            pending = sorted(self._unacked.items())
            self._unacked.clear()
        for _, (topic, payload, handler) in pending:
            self._deliver(handler, topic, payload)

    def close(self) -> None:
        for h in self._handlers:
            self.broker.unsubscribe(h)
        self._handlers = []


SCHEMES = {"mqtt": 1883, "mqtts": 8883}


class MqttTransport:
    """paho-mqtt 2.x, MQTT 3.1.1, QoS 1. With a fixed `client_id` and `persistent=True` the
    broker keeps the session (clean_session False): messages for us queue while we are away
    and survive a broker restart (Mosquitto persistence).

    `mqtts://host:8883` speaks TLS: the broker's certificate is checked against `ca_file`
    (SOLDE_MQTT_CA_FILE; the system's CAs when empty) and its host name; a client certificate
    (`cert_file`/`key_file`, SOLDE_MQTT_CERT_FILE/KEY_FILE) is presented when given. A user name
    and password come from the URL (mqtts://user:pass@host) or SOLDE_MQTT_USERNAME/PASSWORD.
    Arguments left None take the settings."""

    def __init__(
        self,
        url: str,
        client_id: str | None = None,
        persistent: bool = False,
        publish_timeout: float = 5.0,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        import ssl

        import paho.mqtt.client as mqtt

        parsed = urlparse(url)
        if parsed.scheme not in SCHEMES:
            raise ValueError(f"MQTT URL {url!r}: use mqtt://host:port or mqtts://host:port.")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or SCHEMES[parsed.scheme]
        self.publish_timeout = publish_timeout
        self._filters: list[str] = []
        self._handler: Handler | None = None
        self._handler_lock = threading.Lock()
        self._early: list[tuple[str, dict, Callable[[], None]]] = []
        self._connected = threading.Event()
        # Packet ids are per connection: an ack is sent only on the connection the message
        # came on (after a reconnect the broker sends it again, with a fresh ack).
        self._generation = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"solde-{uuid.uuid4().hex[:12]}",
            clean_session=not persistent,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._subacks: dict[int, threading.Event] = {}
        self._sub_lock = threading.Lock()
        self.client.on_connect_fail = self._on_connect_fail
        if username is None:
            username = unquote(parsed.username or "") or getattr(settings, "MQTT_USERNAME", "")
        if password is None:
            password = unquote(parsed.password or "") or getattr(settings, "MQTT_PASSWORD", "")
        if username:
            self.client.username_pw_set(username, password or None)
        if parsed.scheme == "mqtts":
            cert_file = cert_file if cert_file is not None else settings.MQTT_CERT_FILE
            key_file = key_file if key_file is not None else settings.MQTT_KEY_FILE
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH,
                cafile=(ca_file if ca_file is not None else settings.MQTT_CA_FILE) or None,
            )
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if cert_file:
                context.load_cert_chain(cert_file, key_file or None)
            self.client.tls_set_context(context)  # verifies the chain and the host name
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._connected.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connection refused: %s", reason_code)
            return
        self._generation += 1
        for f in self._filters:
            client.subscribe(f, qos=1)
        self._connected.set()

    def _on_connect_fail(self, client, userdata) -> None:
        # TLS refused (unknown CA, wrong host name, bad client certificate) or broker away.
        log.warning("MQTT connection to %s:%s failed; retrying", self.host, self.port)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:
        with self._sub_lock:
            event = self._subacks.pop(mid, None)
        if event is not None:
            event.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if reason_code.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        mid, qos, generation = message.mid, message.qos, self._generation

        def ack() -> None:
            if qos > 0 and generation == self._generation and self._connected.is_set():
                client.ack(mid, qos)

        try:
            payload = json.loads(message.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("malformed message on %s ignored", message.topic)
            ack()
            return
        if not isinstance(payload, dict):
            ack()
            return
        with self._handler_lock:
            if self._handler is None:
                # A persistent session delivers what waited for us as soon as we connect,
                # possibly before anyone subscribed here: keep it for the handler.
                self._early.append((message.topic, payload, ack))
                return
            handler = self._handler
        handler(message.topic, payload, ack)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 10) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: dict) -> bool:
        # Broker away: fail fast, the dispatcher's backoff resends later.
        if not self._connected.wait(min(1.0, self.publish_timeout)):
            return False
        info = self.client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1)
        try:
            info.wait_for_publish(self.publish_timeout)
        except (RuntimeError, ValueError) as exc:
            log.warning("MQTT publish to %s failed: %s", topic, exc)
            return False
        return info.is_published()

    def publish_many(self, messages: list[tuple[str, dict]]) -> list[bool]:
        """Publish all, then wait for the broker's acknowledgements (pipelined, not one by one)."""
        if not self._connected.wait(min(1.0, self.publish_timeout)):
            return [False] * len(messages)
        infos = [
            self.client.publish(t, json.dumps(p, separators=(",", ":")), qos=1) for t, p in messages
        ]
        out = []
        for info in infos:
            try:
                info.wait_for_publish(self.publish_timeout)
                out.append(info.is_published())
            except (RuntimeError, ValueError):
                out.append(False)
        return out

    def subscribe(self, filters: list[str], handler: Handler) -> None:
        self._filters += list(filters)
        with self._handler_lock:
            self._handler = handler
            early, self._early = self._early, []
        for topic, payload, ack in early:
            handler(topic, payload, ack)
        if self._connected.is_set():
            # Wait for the broker's SUBACK: from then on our session queues what we miss.
            done = threading.Event()
            with self._sub_lock:
                _, mid = self.client.subscribe([(f, 1) for f in filters])
                if mid is not None:
                    self._subacks[mid] = done
            done.wait(self.publish_timeout)

    def redeliver(self) -> None:
        """Reconnect the session: the broker sends again every message we did not acknowledge
        (MQTT 3.1.1 resends them only on a new connection), then what queued meanwhile."""
        self._connected.clear()
        self._generation += 1  # acks of the old connection are void from now on
        self.client.disconnect()
        self.client.loop_stop()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._connected.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def forget_session(url: str, client_id: str, **credentials) -> None:
    """Drop a persistent session at the broker (a clean connection under its client id)."""
    t = MqttTransport(url, client_id=client_id, persistent=False, **credentials)
    t.close()


_publisher: Transport | None = None
_publisher_lock = threading.Lock()


def make_transport(
    client_id: str | None = None, persistent: bool = False, url: str | None = None
) -> Transport:
    """A transport for settings.HEADEND_URL ("inprocess", "mqtt://host:port" or
    "mqtts://host:port")."""
    url = url or settings.HEADEND_URL
    if url == "inprocess":
        return InProcessTransport()
    if url.startswith(("mqtt://", "mqtts://")):
        return MqttTransport(url, client_id=client_id, persistent=persistent)
    raise ValueError(
        f"HEADEND_URL {url!r}: use 'inprocess', 'mqtt://host:port' or 'mqtts://host:port'."
    )


def publisher() -> Transport:
    """The process-wide transport the dispatcher sends orders through."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = make_transport()
        return _publisher


def reset() -> None:
    """Forget the process-wide publisher (tests switch brokers and prefixes)."""
    global _publisher
    with _publisher_lock:
        if _publisher is not None:
            _publisher.close()
        _publisher = None
    BROKER.reset()
