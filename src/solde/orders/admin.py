from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from solde.orders.models import MeterShadow, Order, OrderEvent
from solde.orders.services import cancel_orders


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ("at", "status", "kind", "detail")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PendingFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Pending (created, sent, acknowledged)"),
            ("expired", "Expired (the meter never answered)"),
            ("failed", "Failed"),
            ("retried", "Sent more than once"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "pending":
            return queryset.filter(status__in=("created", "sent", "acknowledged"))
        if value in ("expired", "failed"):
            return queryset.filter(status=value)
        if value == "retried":
            return queryset.filter(attempts__gt=1)
        return queryset


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "meter",
        "attempts",
        "created_at",
        "updated_at",
        "expires_at",
        "reason",
    )
    list_filter = (PendingFilter, "status", "kind")
    search_fields = ("meter__serial", "meter__supply_point__ean", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Order._meta.fields]
    inlines = [OrderEventInline]
    actions = ["cancel"]
    list_select_related = ("meter",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Cancel the selected pending orders")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        n = cancel_orders(queryset.values_list("pk", flat=True), who=f"operator {request.user}")
        self.message_user(request, f"{n} order(s) cancelled.", messages.SUCCESS)


class InSyncFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "sync"

    def lookups(self, request, model_admin):
        return [("drift", "Reported differs from desired"), ("unknown", "Never reported")]

    def queryset(self, request, queryset):
        if self.value() == "unknown":
            return queryset.filter(reported_at__isnull=True)
        if self.value() == "drift":
            ids = [s.pk for s in queryset.filter(reported_at__isnull=False) if not s.in_sync]
            return queryset.filter(pk__in=ids)
        return queryset


@admin.register(MeterShadow)
class MeterShadowAdmin(admin.ModelAdmin):
    list_display = (
        "meter",
        "desired_relay",
        "reported_relay",
        "desired_limiter_amps",
        "reported_limiter_amps",
        "reported_at",
        "in_sync",
    )
    list_filter = (InSyncFilter, "desired_relay", "reported_relay")
    search_fields = ("meter__serial", "meter__supply_point__ean")
    readonly_fields = [f.name for f in MeterShadow._meta.fields]

    @admin.display(boolean=True, description="in sync")
    def in_sync(self, obj: MeterShadow) -> bool:
        return obj.in_sync

    def has_add_permission(self, request) -> bool:
        return False
