"""The prepayment account of a supply point and its closed days."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountState(models.TextChoices):
    PENDING = "pending", _("En attente")
    ACTIVE = "active", _("Actif")
    CLOSED = "closed", _("Clôturé")


class CreditState(models.TextChoices):
    OK = "ok", _("Crédit suffisant")
    EMERGENCY = "emergency", _("Crédit de secours")
    EXHAUSTED = "exhausted", _("Crédit épuisé")


class Supply(models.TextChoices):
    CONNECTED = "connected", _("Alimentation normale")
    DISCONNECTED = "disconnected", _("Alimentation coupée")
    LIMITED = "limited", _("Puissance limitée")
    READY_FOR_RECONNECTION = "ready_for_reconnection", _("Prêt à être reconnecté")


INTERRUPTED_SUPPLY = (Supply.DISCONNECTED, Supply.LIMITED, Supply.READY_FOR_RECONNECTION)


class PrepaymentAccount(models.Model):
    """One per EAN. Balance and advance live in the ledger; state here is derived from them."""

    supply_point = models.OneToOneField(
        "registry.SupplyPoint", on_delete=models.PROTECT, related_name="account"
    )
    state = models.CharField(max_length=7, choices=AccountState.choices, default="pending")
    balance_account = models.OneToOneField(
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+"
    )
    advance_account = models.OneToOneField(
        "ledger.LedgerAccount", on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activation_day = models.DateField(null=True, blank=True)
    last_closed_day = models.DateField(null=True, blank=True)
    # Why the next day is not closed yet: "" | "no_data" | "no_price".
    waiting_reason = models.CharField(max_length=20, blank=True)
    credit_state = models.CharField(max_length=10, choices=CreditState.choices, default="ok")
    low_credit = models.BooleanField(default=False)
    emergency_since = models.DateTimeField(null=True, blank=True)
    exhausted_since = models.DateTimeField(null=True, blank=True)
    supply = models.CharField(max_length=22, choices=Supply.choices, default="connected")
    # Customer-settable low-credit thresholds; null = the DSO's default.
    low_credit_threshold_cents = models.IntegerField(null=True, blank=True)
    low_credit_days = models.IntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # An operator paused interruptions (medical equipment, a CPAS file in progress) up to and
    # including this local day: credit control does not interrupt before it has passed.
    interruptions_paused_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["state", "last_closed_day"])]

    def __str__(self) -> str:
        return f"account {self.supply_point}"


class DayCharge(models.Model):
    """A closed day of an account: what was consumed and charged. One per (account, day)."""

    account = models.ForeignKey(PrepaymentAccount, on_delete=models.PROTECT, related_name="days")
    day = models.DateField()
    kwh = models.JSONField(default=dict)  # {"1.8.1": "6.123", ...} energy per charged register
    charge_cents = models.IntegerField()
    recovery_cents = models.IntegerField(default=0)
    closed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="uniq_day_charge")]
        indexes = [models.Index(fields=["day"])]


class WaitingReason(models.TextChoices):
    NONE = "", _("—")
    NO_DATA = "no_data", _("En attente des index")
    NO_PRICE = "no_price", _("En attente d'un tarif")


class CloseRun(models.Model):
    """One run of the daily close: which day it closed up to, for whom, and what it found.

    The platform's last closed day is the latest finished run for every account (ean ""): late
    readings are charged up to it at once (catch-up)."""

    day = models.DateField(db_index=True)
    ean = models.CharField(max_length=18, blank=True)  # "" = every active account
    trigger = models.CharField(max_length=20, default="command")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    closed = models.IntegerField(default=0)
    waiting_for_data = models.IntegerField(default=0)
    waiting_for_price = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["ean", "day"])]

    def __str__(self) -> str:
        return f"close {self.day} {self.ean or 'all'}"


# --- Credit control (RULES.md §7, §9 balance display) ----------------------------------------


class Decision(models.TextChoices):
    INTERRUPT = "interrupt", _("Interruption ordonnée")
    FRIENDLY_CREDIT = "friendly_credit", _("Crédit amical (hors plage autorisée)")
    NO_INTERRUPTION = "no_interruption", _("Pas d'interruption (client protégé)")
    HELD = "held", _("Interruption retenue (garde coupures massives)")
    RELEASE_SKIPPED = "release_skipped", _("Interruption confirmée mais plus justifiée")
    REJECTED = "rejected", _("Interruption rejetée par un opérateur")
    RECONNECT = "reconnect", _("Rétablissement ordonné")
    # Past rows only: a balance display is recorded by its order alone since 0012.
    DISPLAY = "display", _("Affichage du solde")


class HeldRunStatus(models.TextChoices):
    HELD = "held", _("En attente de confirmation")
    RELEASED = "released", _("Confirmé et envoyé")
    REJECTED = "rejected", _("Rejeté")


class HeldRun(models.Model):
    """The interruptions of one run over a DSO's mass-cut threshold, held until an operator
    confirms (release) or rejects them. Its list is the `held` decisions pointing at it."""

    dso = models.ForeignKey("registry.Dso", on_delete=models.PROTECT, related_name="held_runs")
    created_at = models.DateTimeField()
    trigger = models.CharField(max_length=30)
    status = models.CharField(
        max_length=8, choices=HeldRunStatus.choices, default=HeldRunStatus.HELD
    )
    count = models.IntegerField()
    active_accounts = models.IntegerField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_count = models.IntegerField(default=0)
    skipped_count = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("coupure massive retenue")
        verbose_name_plural = _("coupures massives retenues")
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.dso_id} {self.created_at:%Y-%m-%d %H:%M} ({self.count}, {self.status})"


class CreditDecision(models.Model):
    """One credit-control decision on an account, with why: the rule, the balance, the limit,
    whether the instant was in an allowed window, and the order it issued (if any)."""

    account = models.ForeignKey(
        PrepaymentAccount, on_delete=models.PROTECT, related_name="credit_decisions"
    )
    at = models.DateTimeField()
    decision = models.CharField(max_length=16, choices=Decision.choices)
    # What triggered the run: close, topup, adjustment, window, confirm, ...
    trigger = models.CharField(max_length=30)
    # The rule applied, as a short sentence for the operator.
    rule = models.CharField(max_length=200)
    action = models.CharField(max_length=20, blank=True)  # disconnect | limit_power | ...
    balance_cents = models.BigIntegerField()
    limit_cents = models.IntegerField()
    in_window = models.BooleanField()
    next_window_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    held_run = models.ForeignKey(
        HeldRun, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    # The closed day a decision after the close answers (null for other triggers): one decision
    # of each kind per account-day, whatever the crashes and reruns.
    day = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "at"]),
            models.Index(fields=["held_run", "decision"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "account", "decision"],
                condition=models.Q(day__isnull=False),
                name="uniq_decision_per_account_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.account_id} {self.at:%Y-%m-%d %H:%M}"
