"""The simulated meter fleet's state (the simulator and `solde meter show/press` share it)."""

from __future__ import annotations

from django.db import models


class SimulatedMeter(models.Model):
    """One simulated Siconia-like meter: relay, limiter, display, indexes, what it still has to
    answer and what it must still send up."""

    serial = models.CharField(max_length=40, unique=True)
    ean = models.CharField(max_length=18)
    energy = models.CharField(max_length=11)
    registers = models.JSONField(default=list)
    relay = models.CharField(max_length=22, default="connected")
    limiter_amps = models.IntegerField(null=True, blank=True)
    payment_mode = models.CharField(max_length=12, default="prepayment")
    # 94.32.2: {"updated_at": iso, "balance": "12.34", "emergency_credit": "12.00"}
    display = models.JSONField(default=dict, blank=True)
    # Cumulative indexes in thousandths of the unit (Wh, litres), per register.
    indexes = models.JSONField(default=dict)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    # Load shape: {"annual": kWh or m³ per year, "solar_kwp": float}
    profile = models.JSONField(default=dict)
    # Orders received and not yet answered: [{"due": iso, "step": "ack"|"execute"|"fail", ...}]
    pending = models.JSONField(default=list, blank=True)
    # Final answers already given, by order id (re-sent when an order arrives twice).
    answered = models.JSONField(default=dict, blank=True)
    # Messages to send up (button presses made from the CLI): [{"leaf": …, "payload": …}]
    outbox = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.serial

    def state(self) -> dict:
        return {
            "relay": self.relay,
            "limiter_amps": self.limiter_amps,
            "payment_mode": self.payment_mode,
            "display": self.display,
        }


class DeadLetter(models.Model):
    """A message from the head-end that could not be applied although the database was up (a
    bug, or a payload nothing can apply): kept here for an operator, then acknowledged so it
    does not block the link. Messages that failed because the database was away are not
    dead letters: they are left unacknowledged and the broker delivers them again."""

    topic = models.CharField(max_length=255)
    payload = models.JSONField()
    error = models.TextField()  # the traceback
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.topic} at {self.received_at:%Y-%m-%d %H:%M:%S}"
