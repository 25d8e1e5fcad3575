"""Customer events (RULES.md §10), written in the transaction of the change that caused them."""

from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    ACTIVATION_CODE_ISSUED = "activation_code_issued", "Activation code issued"
    PREPAYMENT_ACTIVATED = "prepayment_activated", "Prepayment activated"
    TOPUP_RECEIVED = "topup_received", "Top-up received"
    LOW_CREDIT = "low_credit", "Low credit"
    EMERGENCY_CREDIT_ENGAGED = "emergency_credit_engaged", "Emergency credit engaged"
    INTERRUPTION_COMING = "interruption_coming", "Interruption coming"
    SUPPLY_INTERRUPTED = "supply_interrupted", "Supply interrupted"
    LIMITER_ON = "limiter_on", "Power limiter on"
    RECONNECTION_READY = "reconnection_ready", "Reconnection ready"
    ADVANCE_REPAID = "advance_repaid", "Advance repaid"


class Event(models.Model):
    """An occurrence to tell the customer about. `key` makes each occurrence unique."""

    kind = models.CharField(max_length=40, choices=EventKind.choices)
    key = models.CharField(max_length=160, unique=True)
    supply_point = models.ForeignKey(
        "registry.SupplyPoint", on_delete=models.PROTECT, related_name="events"
    )
    occurred_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["supply_point", "occurred_at"])]

    def __str__(self) -> str:
        return self.key
