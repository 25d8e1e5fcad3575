"""Top-ups from every channel (RULES.md §8): partners, online payments, bank statements,
suspense, manual adjustments. Money itself lives in the ledger; these rows say where it came
from and keep every outside id unique (inbox)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    ONLINE = "online", _("En ligne")
    TERMINAL = "terminal", _("Terminal de paiement")
    RETAIL = "retail", _("Commerce")
    CPAS = "cpas", _("CPAS")
    TRANSFER = "transfer", _("Virement")
    MANUAL = "manual", _("Manuel")


PARTNER_CHANNELS = (Channel.TERMINAL, Channel.RETAIL, Channel.CPAS)


class Partner(models.Model):
    """A payment terminal operator, a shop network or a social service (CPAS), with its key."""

    name = models.CharField(max_length=200)
    # The one channel this partner collects for; "" = not set yet, so it may collect nothing.
    channel = models.CharField(max_length=10, blank=True, choices=Channel.choices)
    api_key = models.OneToOneField(
        "api.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="partner"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TopupStatus(models.TextChoices):
    CREDITED = "credited", _("Crédité")
    PARTIALLY_REVERSED = "partially_reversed", _("Partiellement annulé")
    REVERSED = "reversed", _("Annulé")


class Topup(models.Model):
    """One confirmed top-up, credited once. `source_key` = channel + outside id (unique)."""

    source_key = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    external_id = models.CharField(max_length=80)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="topups"
    )
    # Who paid when it is not the customer (the social service for CPAS), or the bank debtor.
    payer = models.CharField(max_length=200, blank=True)
    supply_point = models.ForeignKey(
        "registry.SupplyPoint", on_delete=models.PROTECT, related_name="topups"
    )
    account = models.ForeignKey(
        "prepayment.PrepaymentAccount", on_delete=models.PROTECT, related_name="topups"
    )
    amount_cents = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=TopupStatus.choices, default="credited")
    transaction = models.OneToOneField(
        "ledger.Transaction", on_delete=models.PROTECT, related_name="topup"
    )
    # The supplier the money is owed to: the supply point's supplier on the top-up's date.
    supplier = models.ForeignKey(
        "registry.Supplier", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    day = models.DateField()
    balance_after_cents = models.BigIntegerField()
    reversed_cents = models.BigIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    credited_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["supplier", "credited_at"]),
            models.Index(fields=["supply_point", "credited_at"]),
        ]

    def __str__(self) -> str:
        return f"top-up {self.pk} {self.channel} {self.amount_cents / 100:.2f} €"


class ReversalReason(models.TextChoices):
    REFUND = "refund", _("Remboursement")
    CHARGEBACK = "chargeback", _("Rétrofacturation")
    PARTNER_CANCEL = "partner_cancel", _("Annulation par le partenaire")
    OPERATOR = "operator", _("Annulation par un opérateur")
    # A transfer the bank took back (return, recall, reversal: a debit line of a statement).
    BANK_RETURN = "bank_return", _("Retour bancaire")


class TopupReversal(models.Model):
    """Money taken back from a top-up (refund, chargeback, partner cancel): a `reversal`
    ledger transaction, a negative line in the next supplier statement."""

    key = models.CharField(max_length=100, unique=True)
    topup = models.ForeignKey(Topup, on_delete=models.PROTECT, related_name="reversals")
    amount_cents = models.BigIntegerField()  # positive: what was taken back
    reason = models.CharField(max_length=20, choices=ReversalReason.choices)
    transaction = models.OneToOneField(
        "ledger.Transaction", on_delete=models.PROTECT, related_name="topup_reversal"
    )
    day = models.DateField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"reversal {self.key}"


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Créé")
    OPEN = "open", _("En attente de paiement")
    PENDING = "pending", _("En cours")
    AUTHORIZED = "authorized", _("Autorisé")
    PAID = "paid", _("Payé")
    FAILED = "failed", _("Échoué")
    CANCELED = "canceled", _("Annulé")
    EXPIRED = "expired", _("Expiré")


OPEN_PAYMENT_STATUSES = ("created", "open", "pending", "authorized")


class OnlinePayment(models.Model):
    """A payment at the provider (Mollie or the fake). Credited once when the provider says paid."""

    account = models.ForeignKey(
        "prepayment.PrepaymentAccount", on_delete=models.PROTECT, related_name="online_payments"
    )
    provider = models.CharField(max_length=20)
    provider_payment_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    amount_cents = models.BigIntegerField()
    method = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=12, choices=PaymentStatus.choices, default="created")
    checkout_url = models.URLField(max_length=500, blank=True)
    return_url = models.URLField(max_length=500, blank=True)
    remember = models.BooleanField(default=False)
    provider_customer_id = models.CharField(max_length=40, blank=True)
    topup = models.OneToOneField(
        Topup, null=True, blank=True, on_delete=models.PROTECT, related_name="online_payment"
    )
    refunded_cents = models.BigIntegerField(default=0)
    charged_back_cents = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Why a paid payment is not credited (account closed meanwhile…): for an operator.
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"payment {self.provider_payment_id or self.pk} {self.status}"


class PaymentCustomer(models.Model):
    """'Remember my bank details': the customer's id at the payment provider."""

    customer = models.ForeignKey(
        "registry.Customer", on_delete=models.CASCADE, related_name="payment_profiles"
    )
    provider = models.CharField(max_length=20)
    provider_customer_id = models.CharField(max_length=40)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "provider"], name="uniq_payment_customer")
        ]


class WebhookCall(models.Model):
    """Inbox: one row per (provider, payment id), whatever how many times it was called.
    Nothing in the POST is trusted: the payment is re-fetched from the provider."""

    provider = models.CharField(max_length=20)
    payment_id = models.CharField(max_length=60)
    calls = models.IntegerField(default=1)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    handled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "payment_id"], name="uniq_webhook_call")
        ]
        indexes = [models.Index(fields=["handled_at"])]


class BankStatement(models.Model):
    """An imported CAMT.053 statement: one per account (IBAN), statement id and sequence."""

    statement_id = models.CharField(max_length=80)
    iban = models.CharField(max_length=40, blank=True)
    # ElctrncSeqNb (LglSeqNb when the bank gives only that): banks reuse an Id across days.
    sequence = models.CharField(max_length=20, blank=True, default="")
    version = models.CharField(max_length=20, blank=True, default="")
    created_on = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    imported_at = models.DateTimeField()
    lines = models.IntegerField(default=0)
    opening_cents = models.BigIntegerField(null=True, blank=True)
    closing_cents = models.BigIntegerField(null=True, blank=True)
    # What the statement said: the same statement sent again is recognised, a changed one is not.
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    # The four outcomes of its lines: {"credited": [count, cents], …} (cents signed).
    totals = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["iban", "statement_id", "sequence"], name="uniq_bank_statement_seq"
            )
        ]

    def __str__(self) -> str:
        seq = f" no {self.sequence}" if self.sequence else ""
        return f"{self.iban} {self.statement_id}{seq}"


class LineOutcome(models.TextChoices):
    CREDITED = "credited", _("Crédité (ou recharge reprise)")
    SUSPENSE = "suspense", _("En attente")
    REFUSED = "refused", _("Refusé")
    DUPLICATE = "duplicate", _("Doublon")


class BankLine(models.Model):
    """One transaction of a statement, identified by its statement, its position and its
    references (`key`: their sha256). It ends in exactly one outcome."""

    key = models.CharField(max_length=100, unique=True)
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines_set")
    entry_index = models.IntegerField(default=0)
    tx_index = models.IntegerField(default=1)
    credit = models.BooleanField(default=True)  # False: a debit (return, reversal, payment out)
    amount_cents = models.BigIntegerField()  # positive; the direction is `credit`
    booking_date = models.DateField(null=True, blank=True)
    # The other party: who paid (a credit), who was paid back (a debit).
    debtor_name = models.CharField(max_length=200, blank=True)
    debtor_iban = models.CharField(max_length=40, blank=True)
    structured = models.CharField(max_length=60, blank=True)
    text = models.TextField(blank=True)
    acct_svcr_ref = models.CharField(max_length=35, blank=True, default="")
    ntry_ref = models.CharField(max_length=35, blank=True, default="")
    end_to_end_id = models.CharField(max_length=35, blank=True, default="")
    return_reason = models.CharField(max_length=35, blank=True, default="")
    outcome = models.CharField(max_length=10, choices=LineOutcome.choices, default="credited")
    reason = models.CharField(max_length=300, blank=True, default="")
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    topup = models.OneToOneField(
        Topup, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_line"
    )
    reversal = models.OneToOneField(
        TopupReversal, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_line"
    )

    class Meta:
        indexes = [
            models.Index(fields=["acct_svcr_ref"]),
            models.Index(fields=["end_to_end_id"]),
        ]

    def __str__(self) -> str:
        return f"bank line {self.pk} {self.signed_cents / 100:+.2f} €"

    @property
    def signed_cents(self) -> int:
        return self.amount_cents if self.credit else -self.amount_cents


class SuspenseStatus(models.TextChoices):
    OPEN = "open", _("À traiter")
    MATCHED = "matched", _("Attribué")
    RETURNED = "returned", _("À rembourser")


class SuspenseItem(models.Model):
    """Money received and not matched to an EAN (never refused), or a debit that returns no
    known top-up (negative amount): waits for an operator."""

    line = models.OneToOneField(BankLine, on_delete=models.PROTECT, related_name="suspense")
    amount_cents = models.BigIntegerField()  # signed: negative for a debit
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=SuspenseStatus.choices, default="open")
    topup = models.OneToOneField(
        Topup, null=True, blank=True, on_delete=models.PROTECT, related_name="suspense_item"
    )
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"suspense {self.line.key} {self.amount_cents / 100:.2f} €"


class AdjustmentKind(models.TextChoices):
    # Money the operator received (cash at a counter…): a manual top-up, passed to the supplier.
    TOPUP = "topup", _("Paiement reçu (recharge manuelle)")
    # A correction (goodwill, error): against the adjustments account, not passed on.
    ADJUSTMENT = "adjustment", _("Correction")


class ManualAdjustment(models.Model):
    """An operator's credit or debit: who, when, why (audited, never changed)."""

    account = models.ForeignKey(
        "prepayment.PrepaymentAccount", on_delete=models.PROTECT, related_name="adjustments"
    )
    kind = models.CharField(max_length=10, choices=AdjustmentKind.choices)
    amount_cents = models.BigIntegerField()  # signed: negative = debit
    reason = models.TextField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    transaction = models.OneToOneField(
        "ledger.Transaction", on_delete=models.PROTECT, related_name="manual_adjustment"
    )
    topup = models.OneToOneField(
        Topup, null=True, blank=True, on_delete=models.PROTECT, related_name="manual_adjustment"
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"adjustment {self.pk} {self.amount_cents / 100:.2f} €"
