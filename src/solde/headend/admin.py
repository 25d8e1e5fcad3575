from django.contrib import admin

from solde.headend.models import DeadLetter, SimulatedMeter


@admin.register(SimulatedMeter)
class SimulatedMeterAdmin(admin.ModelAdmin):
    list_display = ("serial", "ean", "energy", "relay", "limiter_amps", "last_reading_at")
    list_filter = ("energy", "relay")
    search_fields = ("serial", "ean")


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Messages the listener could not apply (the database was up): read-only."""

    list_display = ("received_at", "topic")
    search_fields = ("topic",)
    fields = ("received_at", "topic", "payload", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
