"""The head-end listener: consumes what meters send up and applies it to the platform.

Readings go through the same ingestion as the API; acknowledgements and results update orders
idempotently; events update the meter's reported state. Transport callbacks only queue the
message; `process()` applies them in the caller's thread, each effect in its own transaction,
and acknowledges a message to the broker only after that transaction committed.

When applying fails because the database is away (an outage, a restart, a killed backend),
nothing of what is pending is acknowledged: the listener drops its local queue, waits (1 s,
2 s, … up to 30 s) until the database answers again, then asks the transport to deliver every
unacknowledged message again (MQTT: the persistent session reconnects). Redelivered messages
that had already been applied are absorbed: readings are deduplicated by ingestion, results
and events are applied idempotently. A message that fails while the database is up (a bug, a
payload nothing can apply) is kept as a `DeadLetter` for an operator, then acknowledged.

`process()` must run outside any transaction (the `solde headend listen` command does):
inside one, "committed" would only mean "written into the caller's transaction".
"""

from __future__ import annotations

import logging
import queue
import time
import traceback
from collections.abc import Callable
from functools import partial

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from solde import clock
from solde.headend import topics
from solde.headend.adapters import Transport
from solde.orders import services as orders

log = logging.getLogger(__name__)

RETRY_FIRST = 1.0  # seconds before the first redelivery after the database failed
RETRY_CAP = 30.0

Ack = Callable[[], None]


class DatabaseAway(Exception):
    """Applying a message failed because the database is not there: retry, do not ack."""


def ingest_readings(rows: list[dict], source: str) -> object:
    from solde.readings.services import ingest

    return ingest(rows, source=source)


class Listener:
    def __init__(self, transport: Transport, source: str = "mqtt") -> None:
        self.transport = transport
        self.source = source
        self.inbox: queue.Queue[tuple[str, dict, Ack]] = queue.Queue()
        self.counts = {
            "readings": 0,
            "results": 0,
            "events": 0,
            "ignored": 0,
            "dead_letters": 0,
            "database_failures": 0,
            "redeliveries": 0,
        }
        self._retry_at: float | None = None
        self._retry_wait = 0.0
        transport.subscribe([topics.all_meters(leaf) for leaf in topics.UP], self._receive)

    def _receive(self, topic: str, payload: dict, ack: Ack) -> None:
        self.inbox.put((topic, payload, ack))

    @property
    def recovering(self) -> bool:
        """True while waiting for the database before asking for a redelivery."""
        return self._retry_at is not None

    def process(self, wait: float = 0.0, max_messages: int = 5000) -> int:
        """Apply the queued messages (waiting up to `wait` s for the first). Returns the count
        applied (0 while the database is away)."""
        if self._retry_at is not None and not self._recover(wait):
            return 0
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
        try:
            self._apply(batch)
        except DatabaseAway as exc:
            self.counts["database_failures"] += 1
            self._retry_wait = RETRY_FIRST
            self._retry_at = time.monotonic() + self._retry_wait
            dropped = self._drop_queue()
            log.warning(
                "database unavailable (%s): %d message(s) left unacknowledged for redelivery",
                exc,
                len(batch) + dropped,
            )
            return 0
        return len(batch)

    # --- Applying -----------------------------------------------------------------------------

    def _apply(self, batch: list[tuple[str, dict, Ack]]) -> None:
        if not connection.in_atomic_block:  # a long-running process: drop a dead connection
            connection.close_if_unusable_or_obsolete()
        readings: list[tuple[str, dict, list[dict], Ack]] = []
        for topic, payload, ack in batch:
            parsed = topics.parse(topic)
            if parsed is None:
                ack()  # not a topic of ours: nothing to apply, ever
                continue
            serial, leaf = parsed
            if leaf == "readings":
                readings.append((topic, payload, reading_rows(serial, payload), ack))
                continue
            if self._guarded(topic, payload, partial(self._apply_one, serial, leaf, payload)):
                ack()
        if readings:
            self._ingest(readings)

    def _apply_one(self, serial: str, leaf: str, payload: dict) -> None:
        with transaction.atomic():
            if leaf == "order-results":
                outcome = orders.record_result(serial, payload)
                self.counts["results" if outcome != "unknown" else "ignored"] += 1
            elif leaf == "events":
                ok = orders.record_event(serial, payload)
                self.counts["events" if ok else "ignored"] += 1

    def _ingest(self, readings: list[tuple[str, dict, list[dict], Ack]]) -> None:
        # The rows of a whole batch (many meters) go to ingestion in one call: set-based.
        rows = [r for _, _, msg_rows, _ in readings for r in msg_rows]
        try:
            self._ingest_rows(rows)
        except DatabaseAway:
            raise
        except Exception:  # noqa: BLE001 — isolated below, message by message
            if not self._database_ok():
                raise DatabaseAway("ingestion failed and the database does not answer") from None
            log.exception("ingestion of a batch of %d readings failed; one by one", len(rows))
            for topic, payload, msg_rows, ack in readings:
                if self._guarded(topic, payload, partial(self._ingest_rows, msg_rows)):
                    ack()
            return
        for *_, ack in readings:
            ack()

    def _ingest_rows(self, rows: list[dict]) -> None:
        try:
            with transaction.atomic():
                lookup = {r["meter"] for r in rows if not r.get("ean")}
                if lookup:
                    from solde.registry.models import Meter

                    eans = dict(
                        Meter.objects.filter(serial__in=lookup).values_list(
                            "serial", "supply_point__ean"
                        )
                    )
                    for r in rows:
                        if not r.get("ean"):
                            r["ean"] = eans.get(r["meter"], "")
                ingest_readings(rows, self.source)
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseAway(str(exc).strip()) from exc
        self.counts["readings"] += len(rows)

    def _guarded(self, topic: str, payload: dict, apply: Callable[[], object]) -> bool:
        """Apply one message. True: committed (ack it). DatabaseAway propagates (no ack); any
        other failure becomes a dead letter (True once it is recorded)."""
        try:
            apply()
            return True
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseAway(str(exc).strip()) from exc
        except DatabaseAway:
            raise
        except Exception:  # noqa: BLE001 — recorded for an operator below, or retried
            error = traceback.format_exc()
            if not self._database_ok():
                raise DatabaseAway("a message failed and the database does not answer") from None
            log.error("message on %s could not be applied; kept as a dead letter", topic)
            self._dead_letter(topic, payload, error)
            return True

    def _dead_letter(self, topic: str, payload: dict, error: str) -> None:
        from solde.headend.models import DeadLetter

        try:
            DeadLetter.objects.create(
                topic=topic[:255], payload=payload, error=error[-20_000:], received_at=clock.now()
            )
        except DatabaseError as exc:
            raise DatabaseAway(f"the dead letter could not be written: {exc}") from exc
        self.counts["dead_letters"] += 1

    # --- Recovering ---------------------------------------------------------------------------

    def _database_ok(self) -> bool:
        if connection.in_atomic_block:
            return not connection.needs_rollback  # inside a caller's transaction (tests)
        try:
            connection.close_if_unusable_or_obsolete()
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except DatabaseError:
            connection.close()
            return False

    def _drop_queue(self) -> int:
        """Forget what is queued locally: all of it is unacknowledged and comes back."""
        n = 0
        while True:
            try:
                self.inbox.get_nowait()
                n += 1
            except queue.Empty:
                return n

    def _recover(self, wait: float) -> bool:
        """After a database failure: once the wait is over and the database answers, ask for
        every unacknowledged message again. True when messages may flow again."""
        assert self._retry_at is not None
        remaining = self._retry_at - time.monotonic()
        if remaining > 0:
            time.sleep(min(wait, remaining))
            return False
        if not self._database_ok():
            self._retry_wait = min(RETRY_CAP, self._retry_wait * 2)
            self._retry_at = time.monotonic() + self._retry_wait
            log.warning("database still unavailable; next try in %.0f s", self._retry_wait)
            return False
        self._drop_queue()
        self.transport.redeliver()
        self.counts["redeliveries"] += 1
        self._retry_at = None
        log.warning("database back: unacknowledged messages asked for again")
        return True

    def run(self, stop: Callable[[], bool] = lambda: False, dispatch_every: float = 5.0) -> None:
        """Apply messages until `stop()`; dispatch due orders every few seconds meanwhile."""
        last = 0.0
        while not stop():
            self.process(wait=0.5)
            if dispatch_every and time.monotonic() - last > dispatch_every and not self.recovering:
                last = time.monotonic()
                try:
                    orders.dispatch_due()
                except Exception:  # noqa: BLE001 — orders keep their state; retried in 5 s
                    log.exception(
                        "dispatch from the listener failed; retried in %ss", dispatch_every
                    )


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
