"""The head-end listener: consumes what meters send up and applies it to the platform.

Readings go through the same ingestion as the API; acknowledgements and results update orders
idempotently; events update the meter's reported state. Transport callbacks only queue the
message; `process()` applies them in the caller's thread and acknowledges each message to the
broker only once it is committed, so a crash loses nothing (the broker redelivers).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

from solde.headend import topics
from solde.headend.adapters import Transport
from solde.orders import services as orders

log = logging.getLogger(__name__)


def ingest_readings(rows: list[dict], source: str) -> object:
    from importlib import import_module

    # Imported late: ingestion lives in the readings app, built alongside this one.
    return import_module("solde.readings.services").ingest(rows, source=source)


class Listener:
    def __init__(self, transport: Transport, source: str = "mqtt") -> None:
        self.transport = transport
        self.source = source
        self.inbox: queue.Queue[tuple[str, dict, Callable[[], None]]] = queue.Queue()
        self.counts = {"readings": 0, "results": 0, "events": 0, "ignored": 0}
        transport.subscribe([topics.all_meters(leaf) for leaf in topics.UP], self._receive)

    def _receive(self, topic: str, payload: dict, ack: Callable[[], None]) -> None:
        self.inbox.put((topic, payload, ack))

    def process(self, wait: float = 0.0, max_messages: int = 5000) -> int:
        """Apply the queued messages (waiting up to `wait` s for the first). Returns the count."""
        batch = []
        try:
            batch.append(self.inbox.get(timeout=wait) if wait else self.inbox.get_nowait())
        except queue.Empty:
            return 0
        while len(batch) < max_messages:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        if not connection.in_atomic_block:  # a long-running process: drop a dead connection
            close_old_connections()
        rows: list[dict] = []
        reading_acks: list[Callable[[], None]] = []
        for topic, payload, ack in batch:
            parsed = topics.parse(topic)
            if parsed is None:
                ack()
                continue
            serial, leaf = parsed
            try:
                if leaf == "readings":
                    rows += reading_rows(serial, payload)
                    reading_acks.append(ack)
                    continue
                if leaf == "order-results":
                    outcome = orders.record_result(serial, payload)
                    self.counts["results" if outcome != "unknown" else "ignored"] += 1
                elif leaf == "events":
                    ok = orders.record_event(serial, payload)
                    self.counts["events" if ok else "ignored"] += 1
            except Exception:
                # A bad message must not block the others; it is logged and dropped.
                log.exception("message on %s could not be applied", topic)
            ack()
        if rows:
            self._ingest(rows)
        for ack in reading_acks:
            ack()
        return len(batch)

    def _ingest(self, rows: list[dict]) -> None:
        # Rows of one batch (many meters) go to ingestion in one call: set-based.
        lookup = {r["meter"] for r in rows if not r.get("ean")}
        if lookup:
            from solde.registry.models import Meter

            eans = dict(
                Meter.objects.filter(serial__in=lookup).values_list("serial", "supply_point__ean")
            )
            for r in rows:
                if not r.get("ean"):
                    r["ean"] = eans.get(r["meter"], "")
        try:
            ingest_readings(rows, self.source)
            self.counts["readings"] += len(rows)
        except ImportError:
            log.error("readings ingestion is not installed; %d readings dropped", len(rows))
        except Exception:
            log.exception("ingestion of %d readings failed", len(rows))

    def run(self, stop: Callable[[], bool] = lambda: False, dispatch_every: float = 5.0) -> None:
        """Apply messages until `stop()`; dispatch due orders every few seconds meanwhile."""
        last = 0.0
        while not stop():
            self.process(wait=0.5)
            if dispatch_every and time.monotonic() - last > dispatch_every:
                last = time.monotonic()
                try:
                    orders.dispatch_due()
                except Exception:
                    log.exception("dispatch from the listener failed")


def reading_rows(serial: str, payload: dict) -> list[dict]:
    """API-shaped rows {ean, meter, register, at, value, unit} from a readings message."""
    ean = payload.get("ean", "")
    return [
        {
            "ean": ean,
            "meter": serial,
            "register": r.get("register"),
            "at": r.get("at"),
            "value": r.get("value"),
            "unit": r.get("unit"),
        }
        for r in payload.get("readings", [])
        if isinstance(r, dict)
    ]
