"""Meter orders (RULES.md §9) and each meter's desired vs reported state (device shadow)."""

from __future__ import annotations

from django.db import models


class OrderKind(models.TextChoices):
    DISPLAY_BALANCE = "display_balance", "Display balance"
    DISCONNECT = "disconnect", "Disconnect"
    RECONNECT = "reconnect", "Reconnect"
    LIMIT_POWER = "limit_power", "Limit power"
    REMOVE_LIMIT = "remove_limit", "Remove limit"
    READ_NOW = "read_now", "Read now"
    SET_PAYMENT_MODE = "set_payment_mode", "Set payment mode"


class OrderStatus(models.TextChoices):
    CREATED = "created", "Created"
    SENT = "sent", "Sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"
    CANCELLED = "cancelled", "Cancelled"


PENDING_STATUSES = (OrderStatus.CREATED, OrderStatus.SENT, OrderStatus.ACKNOWLEDGED)
IN_FLIGHT_STATUSES = (OrderStatus.SENT, OrderStatus.ACKNOWLEDGED)
FINAL_STATUSES = (
    OrderStatus.EXECUTED,
    OrderStatus.FAILED,
    OrderStatus.EXPIRED,
    OrderStatus.SUPERSEDED,
    OrderStatus.CANCELLED,
)
# Orders that move the relay or the limiter: at most one of them in flight per meter.
RELAY_KINDS = (
    OrderKind.DISCONNECT,
    OrderKind.RECONNECT,
    OrderKind.LIMIT_POWER,
    OrderKind.REMOVE_LIMIT,
)
# Orders that interrupt supply: checked again against RULES.md §7 when sent.
INTERRUPTION_KINDS = (OrderKind.DISCONNECT, OrderKind.LIMIT_POWER)


class Order(models.Model):
    """An order to a meter, written in the transaction of the decision (outbox)."""

    meter = models.ForeignKey("registry.Meter", on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=20, choices=OrderKind.choices)
    status = models.CharField(max_length=12, choices=OrderStatus.choices, default="created")
    params = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Why it failed, was cancelled or held (meter error, guard of RULES.md §7, operator).
    detail = models.CharField(max_length=300, blank=True)
    # Idempotency key of the decision that issued it (e.g. the balance display of one
    # account-day: "close:2026-11-27:42:display_balance"); null for orders without one.
    key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["meter", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} → {self.meter_id} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATUSES


class OrderEvent(models.Model):
    """One step in an order's life: a status change, a resend, a late or duplicate answer."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=OrderStatus.choices)
    # "status" | "resent" | "held" | "late_result" | "duplicate"
    kind = models.CharField(max_length=20, default="status")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["order", "at", "pk"]

    def __str__(self) -> str:
        return f"#{self.order_id} {self.kind} {self.status} {self.at:%Y-%m-%d %H:%M:%S}"


class Relay(models.TextChoices):
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    READY_FOR_RECONNECTION = "ready_for_reconnection", "Ready for reconnection"


class MeterShadow(models.Model):
    """What the platform wants a meter to be (desired) and what it last said it is (reported).

    Reconciliation re-issues an order where they differ and nothing is pending.
    """

    meter = models.OneToOneField("registry.Meter", on_delete=models.CASCADE, related_name="shadow")
    desired_relay = models.CharField(max_length=22, choices=Relay.choices, default="connected")
    desired_limiter_amps = models.IntegerField(null=True, blank=True)
    desired_payment_mode = models.CharField(max_length=12, default="prepayment")
    desired_display = models.JSONField(default=dict, blank=True)
    desired_at = models.DateTimeField(null=True, blank=True)
    # Empty until the meter has reported: an unknown state is never "reconciled".
    reported_relay = models.CharField(max_length=22, choices=Relay.choices, blank=True)
    reported_limiter_amps = models.IntegerField(null=True, blank=True)
    reported_payment_mode = models.CharField(max_length=12, blank=True)
    reported_display = models.JSONField(default=dict, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"shadow {self.meter}"

    @property
    def in_sync(self) -> bool:
        if not self.reported_at:
            return True
        relay_ok = self.desired_relay == self.reported_relay or (
            self.desired_relay == Relay.CONNECTED
            and self.reported_relay == Relay.READY_FOR_RECONNECTION
        )
        return relay_ok and self.desired_limiter_amps == self.reported_limiter_amps
