"""Scheduled jobs (progress and failures, read-only: the scheduler writes them) and the attempts
counted against limits."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from solde.models import Attempt, ScheduledRun


class FailingFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("failing", "Failing"), ("ok", "Healthy")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(attempts__gt=0)
        if self.value() == "ok":
            return queryset.filter(attempts=0)
        return queryset


@admin.register(ScheduledRun)
class ScheduledRunAdmin(admin.ModelAdmin):
    list_display = (
        "job",
        "ran_until",
        "last_success_at",
        "health",
        "attempts",
        "last_failure_at",
        "retry_at",
    )
    list_filter = (FailingFilter,)
    search_fields = ("job",)
    fields = (
        "job",
        "ran_until",
        "last_success_at",
        "attempts",
        "failing_instant",
        "last_failure_at",
        "retry_at",
        "traceback",
    )
    readonly_fields = fields

    @admin.display(description="health")
    def health(self, run: ScheduledRun) -> str:
        return format_html("<strong>{}</strong>", "FAILING") if run.failing else "ok"

    @admin.display(description="last error")
    def traceback(self, run: ScheduledRun) -> str:
        return format_html("<pre>{}</pre>", run.last_error) if run.last_error else "-"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Attempts counted against limits (wrong codes, password resets…): delete to lift a lock."""

    list_display = ("at", "scope", "key")
    list_filter = ("scope",)
    date_hierarchy = "at"
    actions = ["delete_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
