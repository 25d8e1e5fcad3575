"""Customer events (RULES.md §10), written in the transaction of the change that caused them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    LETTER = "letter", _("Courrier")


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("En attente d'envoi")
    HELD = "held", _("Retenu (nuit)")
    SENT = "sent", _("Envoyé")
    FAILED = "failed", _("Échec")


class ContactPreference(models.Model):
    """How a customer wants to be told: channels on or off, and which alerts.

    No row means the default: e-mail when the customer has an address, else letter.
    """

    customer = models.OneToOneField(
        "registry.Customer", on_delete=models.CASCADE, related_name="contact_preference"
    )
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=False)
    letter = models.BooleanField(default=False)
    # Event kinds the customer turned off (only optional alerts can be; see rules.MANDATORY_KINDS).
    muted_kinds = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.customer}"


class ExtraRecipient(models.Model):
    """Someone else the customer wants alerted: a relative, a social worker."""

    customer = models.ForeignKey(
        "registry.Customer", on_delete=models.CASCADE, related_name="extra_recipients"
    )
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +32470123456")
    by_email = models.BooleanField(default=True)
    by_sms = models.BooleanField(default=False)
    language = models.CharField(max_length=2, blank=True, help_text="Empty: the customer's")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["customer", "pk"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One message to one recipient on one channel for one event (the outbox)."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="messages")
    customer = models.ForeignKey(
        "registry.Customer", on_delete=models.PROTECT, related_name="messages"
    )
    extra_recipient = models.ForeignKey(
        ExtraRecipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=6, choices=Channel.choices)
    # E-mail address, E.164 phone number, or "customer:<id>" for a letter to the supply address.
    recipient = models.CharField(max_length=254)
    recipient_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=2)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(
        max_length=7, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    letter_pdf = models.CharField(max_length=200, blank=True, help_text="Under MEDIA_ROOT")
    # The body holds a secret (an activation code) until it is scrubbed after sending.
    secret_scrubbed = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    # What the SMS provider said after accepting it (Twilio's MessageSid and MessageStatus:
    # queued, sent, delivered, undelivered, failed), from its signed status callbacks.
    provider_id = models.CharField(max_length=64, blank=True, db_index=True)
    delivery_status = models.CharField(max_length=12, blank=True)
    delivery_error = models.CharField(max_length=12, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel", "recipient"], name="uniq_message_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["customer", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.event.kind} → {self.recipient}"
