from django.contrib import admin

from solde.headend.models import SimulatedMeter


@admin.register(SimulatedMeter)
class SimulatedMeterAdmin(admin.ModelAdmin):
    list_display = ("serial", "ean", "energy", "relay", "limiter_amps", "last_reading_at")
    list_filter = ("energy", "relay")
    search_fields = ("serial", "ean")
