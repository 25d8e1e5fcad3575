"""Publishing customer events. Call inside the service's transaction (outbox)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from solde import clock
from solde.notifications.models import Event


def publish(
    kind: str,
    supply_point_id: int,
    key: str,
    payload: dict | None = None,
    at: datetime | None = None,
) -> None:
    """Record one occurrence of an event; the same key twice is one event."""
    publish_many([(kind, supply_point_id, key, payload or {})], at=at)


def publish_many(events: Iterable[tuple[str, int, str, dict]], at: datetime | None = None) -> None:
    """(kind, supply point id, unique key, payload) each; duplicates of a key are ignored."""
    at = at or clock.now()
    Event.objects.bulk_create(
        [
            Event(kind=k, supply_point_id=sp, key=key, payload=p, occurred_at=at)
            for k, sp, key, p in events
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
