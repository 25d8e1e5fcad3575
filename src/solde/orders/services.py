"""Issuing meter orders. Called inside the deciding service's transaction (outbox)."""

from __future__ import annotations

from django.db.models import Q

from solde import clock
from solde.orders.models import PENDING_STATUSES, Order, OrderKind, OrderStatus

# A newer order supersedes pending orders it contradicts (RULES.md §9).
CONTRADICTS = {
    OrderKind.RECONNECT: {OrderKind.DISCONNECT},
    OrderKind.DISCONNECT: {OrderKind.RECONNECT},
    OrderKind.LIMIT_POWER: {OrderKind.REMOVE_LIMIT},
    OrderKind.REMOVE_LIMIT: {OrderKind.LIMIT_POWER},
    OrderKind.DISPLAY_BALANCE: {OrderKind.DISPLAY_BALANCE},
}


def request_order(meter_id: int, kind: str, reason: str, params: dict | None = None) -> Order:
    """Create an order for a meter; pending orders it contradicts are superseded."""
    now = clock.now()
    order = Order.objects.create(
        meter_id=meter_id, kind=kind, reason=reason, params=params or {},
        created_at=now, updated_at=now, next_attempt_at=now,
    )
    contradicted = CONTRADICTS.get(OrderKind(kind), set())
    if contradicted:
        Order.objects.filter(
            Q(meter_id=meter_id) & Q(kind__in=contradicted) & Q(status__in=PENDING_STATUSES)
        ).exclude(pk=order.pk).update(
            status=OrderStatus.SUPERSEDED, superseded_by=order, updated_at=now
        )
    return order
