from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from solde import clock
from solde.api.auth import scoped
from solde.api.errors import not_found, responses
from solde.orders.models import Order
from solde.registry.models import SupplyPoint

router = Router(tags=["orders"])


class OrderOut(Schema):
    id: int
    kind: str
    status: str
    created_at: str
    updated_at: str
    attempts: int
    reason: str
    meter: str
    params: dict
    expires_at: str | None
    detail: str


def _iso(instant: datetime) -> str:
    """Instants with the local offset, as API.md shows them."""
    return clock.local(instant).isoformat()


@router.get(
    "/supply-points/{ean}/orders",
    response=responses({200: list[OrderOut]}, 404),
    auth=scoped("read"),
)
def list_orders(request: HttpRequest, ean: str):
    """The supply point's meter orders, newest first."""
    if not SupplyPoint.objects.filter(ean=ean).exists():
        raise not_found(f"No supply point with EAN {ean}.")
    orders = (
        Order.objects.filter(meter__supply_point__ean=ean)
        .select_related("meter")
        .order_by("-created_at", "-pk")
    )
    return [
        {
            "id": o.pk,
            "kind": o.kind,
            "status": o.status,
            "created_at": _iso(o.created_at),
            "updated_at": _iso(o.updated_at),
            "attempts": o.attempts,
            "reason": o.reason,
            "meter": o.meter.serial,
            "params": o.params,
            "expires_at": _iso(o.expires_at) if o.expires_at else None,
            "detail": o.detail,
        }
        for o in orders
    ]
