from django.contrib import admin, messages

from solde.portal.models import ActivationCode
from solde.portal.services import issue_activation_codes


@admin.register(ActivationCode)
class ActivationCodeAdmin(admin.ModelAdmin):
    """Codes are stored hashed: operators see their state and can issue a new one."""

    list_display = ("supply_point", "issued_at", "expires_at", "used_at", "used_by")
    list_filter = ("used_at",)
    search_fields = ("supply_point__ean", "supply_point__customer_reference")
    readonly_fields = ("supply_point", "code_hash", "issued_at", "expires_at", "used_at", "used_by")
    actions = ["issue_new_code"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Issue a new code (sent to the customer by letter or e-mail)")
    def issue_new_code(self, request, queryset):
        sps = {
            c.supply_point_id: c.supply_point for c in queryset.select_related("supply_point__dso")
        }
        issue_activation_codes(list(sps.values()))
        self.message_user(
            request,
            f"{len(sps)} new code(s) issued; the previous ones no longer work.",
            messages.SUCCESS,
        )
