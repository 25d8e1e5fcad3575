"""Prepayment accounts and their closed days in the admin (read-only: the services write)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from solde.money import format_eur
from solde.prepayment.models import CloseRun, DayCharge, PrepaymentAccount


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PrepaymentAccount)
class PrepaymentAccountAdmin(ReadOnly):
    list_display = (
        "supply_point",
        "state",
        "balance",
        "advance_outstanding",
        "credit_state",
        "low_credit",
        "supply",
        "last_closed_day",
        "waiting_reason",
    )
    list_filter = ("state", "credit_state", "low_credit", "supply", "waiting_reason")
    search_fields = ("supply_point__ean", "supply_point__customer_reference")
    list_select_related = ("supply_point", "balance_account", "advance_account")

    @admin.display(description="balance (€)", ordering="balance_account__balance_cents")
    def balance(self, acc: PrepaymentAccount) -> str:
        return format_eur(acc.balance_account.balance_cents)

    @admin.display(description="advance owed (€)")
    def advance_outstanding(self, acc: PrepaymentAccount) -> str:
        return format_eur(-acc.advance_account.balance_cents)


@admin.register(DayCharge)
class DayChargeAdmin(ReadOnly):
    list_display = ("account", "day", "kwh", "charge", "recovery", "closed_at")
    search_fields = ("account__supply_point__ean",)
    date_hierarchy = "day"
    list_select_related = ("account__supply_point",)

    @admin.display(description="charge (€)", ordering="charge_cents")
    def charge(self, dc: DayCharge) -> str:
        return format_eur(dc.charge_cents)

    @admin.display(description="recovery (€)", ordering="recovery_cents")
    def recovery(self, dc: DayCharge) -> str:
        return format_eur(dc.recovery_cents)


@admin.register(CloseRun)
class CloseRunAdmin(ReadOnly):
    list_display = (
        "day",
        "ean",
        "trigger",
        "started_at",
        "finished_at",
        "closed",
        "waiting_for_data",
        "waiting_for_price",
    )
    list_filter = ("trigger",)
    search_fields = ("ean",)
