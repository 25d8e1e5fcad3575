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

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["meter", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} → {self.meter_id} ({self.status})"
