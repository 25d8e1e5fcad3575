"""The ledger in the admin: browsable and searchable, never editable (append-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from solde.ledger.models import Entry, LedgerAccount, Transaction
from solde.money import format_eur


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="amount (€)")
    def amount(self, entry: Entry) -> str:
        return format_eur(entry.amount_cents)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "balance", "updated_at")
    list_filter = ("kind",)
    search_fields = ("code",)

    @admin.display(description="balance (€)", ordering="balance_cents")
    def balance(self, acc: LedgerAccount) -> str:
        from solde.ledger.models import BALANCE_ON_READ_KINDS
        from solde.ledger.services import balance_of

        # A few platform accounts (collections) are summed on read, not stored.
        if acc.kind in BALANCE_ON_READ_KINDS:
            return format_eur(balance_of(acc))
        return format_eur(acc.balance_cents)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "day", "supply_point", "reference", "idempotency_key")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "reference", "supply_point__ean")
    date_hierarchy = "at"
    list_select_related = ("supply_point",)
    inlines = [EntryInline]
    readonly_fields = (
        "idempotency_key",
        "kind",
        "at",
        "day",
        "supply_point",
        "reference",
        "details",
    )
