"""The console's records in the admin: operator actions and four-eyes requests are history
(read only); adjustment limits per role are settings (edited here, audited)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from solde.backoffice.models import (
    AdjustmentLimit,
    FourEyesRequest,
    OperatorAction,
    RecoveryCodes,
)


class HistoryAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OperatorAction)
class OperatorActionAdmin(HistoryAdmin):
    list_display = ("at", "user", "kind", "supply_point", "summary", "reason")
    list_filter = ("kind",)
    search_fields = ("supply_point__ean", "user__username", "reason", "summary")
    date_hierarchy = "at"


@admin.register(FourEyesRequest)
class FourEyesRequestAdmin(HistoryAdmin):
    list_display = ("requested_at", "kind", "status", "requested_by", "decided_by", "amount_cents")
    list_filter = ("kind", "status")


@admin.register(AdjustmentLimit)
class AdjustmentLimitAdmin(admin.ModelAdmin):
    list_display = ("group", "dso", "limit_cents")


@admin.register(RecoveryCodes)
class RecoveryCodesAdmin(admin.ModelAdmin):
    """A staff member's recovery codes: only how many are left (the codes are hashes). Deleting
    the row, with the TOTP device, makes the person enrol again at the next login."""

    list_display = ("user", "remaining_codes", "throttling_failure_count")
    fields = ("user", "remaining_codes", "throttling_failure_count")
    readonly_fields = fields
    search_fields = ("user__username",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Codes non utilisés"))
    def remaining_codes(self, obj: RecoveryCodes) -> int:
        return obj.remaining()
