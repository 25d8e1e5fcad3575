from django.contrib import admin

from solde.models import Attempt


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Attempts counted against limits (wrong codes, password resets…): delete to lift a lock."""

    list_display = ("at", "scope", "key")
    list_filter = ("scope",)
    date_hierarchy = "at"
    actions = ["delete_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
