"""Double-entry ledger: append-only transactions whose entries sum to zero, in integer cents."""

from __future__ import annotations

import pgtrigger
from django.db import models

# Transactions and entries are append-only, enforced by the database itself (UPDATE and DELETE
# raise; TRUNCATE, a table-wide maintenance statement, is left alone): pgtrigger on PostgreSQL,
# plain triggers on SQLite (migration 0003, solde.ledger.triggers). See docs/decisions/0003.
APPEND_ONLY = pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)


class AccountKind(models.TextChoices):
    # One per prepayment account: what the customer has (positive = credit).
    CUSTOMER_BALANCE = "customer_balance", "Customer balance"
    # One per prepayment account: the starting advance still owed (negative = owed).
    ADVANCE = "advance", "Starting advance"
    # Platform-wide counterparts.
    ENERGY_SALES = "energy_sales", "Energy charged"
    COLLECTIONS = "collections", "Collections to pass to suppliers"
    SUPPLIER_PAYABLE = "supplier_payable", "Owed to a supplier"
    SUSPENSE = "suspense", "Unmatched money received"
    ADJUSTMENTS = "adjustments", "Operator adjustments"
    REFUNDS = "refunds", "Refunds paid out"
    CASH = "cash", "Money paid out"
    # Per DSO: balances carried over from the budget (card) meters at migration.
    CARRIED = "carried", "Balances carried from budget meters"


# Platform-wide counterparts that every top-up of a channel posts to ("collections:retail"…):
# a stored balance there would be one row every concurrent top-up updates, serialising them
# until commit. Their balance is the sum of their entries, computed on read
# (ledger.services.balances); their stored `balance_cents` stays 0.
BALANCE_ON_READ_KINDS: frozenset[str] = frozenset({"collections"})


class LedgerAccount(models.Model):
    """A ledger account. `balance_cents` is a stored sum of its entries (checked by verify),
    except for the kinds in BALANCE_ON_READ_KINDS (0 stored, computed on read)."""

    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    # Platform-wide accounts are named (e.g. "collections:online", "energy_sales:RESA:gas").
    code = models.CharField(max_length=80, unique=True)
    balance_cents = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code


class TransactionKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    CHARGE = "charge", "Daily charge"
    ADVANCE = "advance", "Starting advance"
    ADVANCE_RECOVERY = "advance_recovery", "Advance recovery"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"
    REFUND = "refund", "Refund"
    SETTLEMENT = "settlement", "Settlement"
    SUSPENSE = "suspense", "Suspense"
    # A budget-meter customer's remaining credit (or debt) carried into Solde, once per EAN.
    CARRIED_BALANCE = "carried_balance", "Balance carried from a budget meter"


class Transaction(models.Model):
    """One business event in the ledger. The same idempotency key twice is one transaction."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    at = models.DateTimeField(db_index=True)
    day = models.DateField(null=True, blank=True)  # the local day charged, for charges
    # No index of its own: the (supply_point, at) index below serves every lookup by supply
    # point, and one index less is one less to write per transaction (the daily close writes
    # two per account per day).
    supply_point = models.ForeignKey(
        "registry.SupplyPoint",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transactions",
        db_index=False,
    )
    reference = models.CharField(max_length=120, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["supply_point", "at"])]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return self.idempotency_key


class Entry(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # Served by the (account, transaction) index below: no index of its own.
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount_cents = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["account", "transaction"])]
        triggers = [APPEND_ONLY]
