"""API keys in the admin: who has which scopes, when used; revoke. The key itself is never
shown (only its hash is stored): create keys with `solde apikey create`."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from solde.api import keys
from solde.api.models import ApiKey


class RevokedFilter(admin.SimpleListFilter):
    title = _("état")
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", _("actives")), ("yes", _("révoquées"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix"]
    fields = ("name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # a key is shown once, in the terminal: `solde apikey create`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead, so the name stays taken and the history readable

    @admin.action(description=_("Révoquer les clés sélectionnées"))
    def revoke(self, request, queryset) -> None:
        count = keys.revoke_keys(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext("%(n)d clé révoquée.", "%(n)d clés révoquées.", count) % {"n": count},
            messages.SUCCESS,
        )
