"""Operators see here the scheduled jobs (progress and failures, read-only: the scheduler writes
them), the internal work (what failed, why — the traceback — and retry it) and the attempts
counted against limits."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from solde import work
from solde.models import Attempt, ScheduledRun, WorkItem, WorkStatus


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


class AttentionFilter(admin.SimpleListFilter):
    title = _("à surveiller")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("failing", _("En échec (réessayée ou abandonnée)")),
            ("dead", _("Abandonnée (à relancer)")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.exclude(status=WorkStatus.DONE).filter(attempts__gt=0)
        if self.value() == "dead":
            return queryset.filter(status=WorkStatus.DEAD)
        return queryset


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "group",
        "status",
        "attempts",
        "next_attempt_at",
        "updated_at",
        "error_line",
    )
    list_filter = (AttentionFilter, "status", "kind")
    search_fields = ("key", "group")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WorkItem._meta.fields if f.name != "last_error"] + ["error"]
    exclude = ("last_error",)
    actions = ["retry"]

    @admin.display(description=_("dernière erreur"))
    def error_line(self, obj: WorkItem) -> str:
        lines = obj.last_error.strip().splitlines()
        return lines[-1][:160] if lines else ""

    @admin.display(description=_("trace de la dernière erreur"))
    def error(self, obj: WorkItem) -> str:
        return format_html("<pre>{}</pre>", obj.last_error) if obj.last_error else "—"

    @admin.action(description=_("Relancer les tâches choisies"))
    def retry(self, request: HttpRequest, queryset: QuerySet[WorkItem]) -> None:
        n = work.retry(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(n)d tâche relancée : elle sera faite dans la minute.",
                "%(n)d tâches relancées : elles seront faites dans la minute.",
                n,
            )
            % {"n": n}
            if n
            else gettext("Rien à relancer : les tâches choisies sont déjà faites."),
            messages.SUCCESS if n else messages.WARNING,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
