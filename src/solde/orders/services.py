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


def request_orders(requests: list[tuple[int, str, str, dict]]) -> list[Order]:
    """The bulk form of `request_order` for one kind of run (e.g. the balance displays after a
    daily close): (meter id, kind, reason, params) each, at most one per meter and kind; pending
    orders they contradict are superseded, in a few set-based statements."""
    from django.db.models import OuterRef, Subquery

    if not requests:
        return []
    now = clock.now()
    new = [
        Order(
            meter_id=m,
            kind=k,
            reason=r,
            params=p or {},
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        for m, k, r, p in requests
    ]
    orders = Order.objects.bulk_create(new, batch_size=2000)
    by_kind: dict[str, list[Order]] = {}
    for order in orders:
        by_kind.setdefault(order.kind, []).append(order)
    for kind, created in by_kind.items():
        contradicted = CONTRADICTS.get(OrderKind(kind), set())
        if not contradicted:
            continue
        for i in range(0, len(created), 20000):
            chunk = created[i : i + 20000]
            new_ids = [o.pk for o in chunk]
            newest = Order.objects.filter(
                meter_id=OuterRef("meter_id"), kind=kind, pk__in=new_ids
            ).values("pk")[:1]
            Order.objects.filter(
                meter_id__in=[o.meter_id for o in chunk],
                kind__in=contradicted,
                status__in=PENDING_STATUSES,
            ).exclude(pk__in=new_ids).update(
                status=OrderStatus.SUPERSEDED, superseded_by=Subquery(newest), updated_at=now
            )
    return orders
