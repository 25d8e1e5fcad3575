"""Statements to suppliers: what the platform collected for them, one line per top-up."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StatementStatus(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    ISSUED = "issued", _("Émis")
    PAID = "paid", _("Payé")


class Statement(models.Model):
    """One supplier's statement for a period. Once issued, it never changes."""

    supplier = models.ForeignKey(
        "registry.Supplier", on_delete=models.PROTECT, related_name="statements"
    )
    period = models.CharField(max_length=5)  # day | week | month
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=6, choices=StatementStatus.choices, default="draft")
    number = models.CharField(max_length=60, blank=True)
    total_cents = models.BigIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True)  # {channel: cents}
    created_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.CharField(max_length=150, blank=True)
    paid_by = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [models.Index(fields=["supplier", "status"])]
        ordering = ["-period_end", "supplier"]

    def __str__(self) -> str:
        return self.number or f"draft {self.supplier.code} {self.period_end}"


class LineKind(models.TextChoices):
    TOPUP = "topup", _("Recharge")
    REVERSAL = "reversal", _("Annulation")


class StatementLine(models.Model):
    """A top-up (positive) or a reversal (negative), each in exactly one statement."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=8, choices=LineKind.choices)
    topup = models.ForeignKey("topups.Topup", on_delete=models.PROTECT, related_name="+")
    reversal = models.OneToOneField(
        "topups.TopupReversal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ean = models.CharField(max_length=18)
    day = models.DateField()
    channel = models.CharField(max_length=10)
    amount_cents = models.BigIntegerField()
    reference = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["topup"],
                condition=models.Q(kind="topup"),
                name="uniq_statement_topup_line",
            )
        ]
        ordering = ["day", "pk"]


class SupplierPrice(models.Model):
    """A supplier's own price (imported from its CSV) for the regularisation data."""

    supplier = models.ForeignKey("registry.Supplier", on_delete=models.CASCADE, related_name="+")
    energy = models.CharField(max_length=11)
    register = models.CharField(max_length=10, blank=True, default="")
    valid_from = models.DateField()
    price_eur_per_kwh = models.DecimalField(max_digits=9, decimal_places=5)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "energy", "register", "valid_from"],
                name="uniq_supplier_price",
            )
        ]
