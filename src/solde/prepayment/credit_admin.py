"""Credit control in the admin: decisions, held runs (mass-cut confirmation), and the
decisions on the account's page.

Registered from PrepaymentConfig.ready() (after the admin's autodiscovery) so the decisions
attach to whichever admin shows prepayment accounts.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from solde.money import format_eur
from solde.prepayment import credit_control
from solde.prepayment.models import (
    CreditDecision,
    Decision,
    HeldRun,
    HeldRunStatus,
    PrepaymentAccount,
)


def _eur(cents: int | None) -> str:
    return "" if cents is None else f"{format_eur(cents)} €"


class DecisionAmounts:
    """The decision's balance and limit in euros, for lists and inlines."""

    @admin.display(description=gettext_lazy("Solde"))
    def balance(self, obj: CreditDecision) -> str:
        return _eur(obj.balance_cents)

    @admin.display(description=gettext_lazy("Limite"))
    def limit(self, obj: CreditDecision) -> str:
        return _eur(obj.limit_cents)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DecisionInline(DecisionAmounts, ReadOnlyInline):
    """What credit control decided on the account (balance displays are in the full list)."""

    model = CreditDecision
    fk_name = "account"
    verbose_name_plural = gettext_lazy("Décisions de contrôle du crédit (hors affichage)")
    fields = (
        "at",
        "decision",
        "trigger",
        "rule",
        "action",
        "balance",
        "limit",
        "in_window",
        "next_window_at",
        "order",
        "held_run",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .exclude(decision=Decision.DISPLAY)
            .select_related("order", "held_run")
            .order_by("-at", "-pk")
        )


class CreditDecisionAdmin(DecisionAmounts, admin.ModelAdmin):
    list_display = (
        "at",
        "account",
        "decision",
        "trigger",
        "action",
        "balance",
        "limit",
        "in_window",
        "order",
        "held_run",
    )
    list_filter = ("decision", "trigger", "in_window", "account__supply_point__dso")
    search_fields = ("account__supply_point__ean", "account__supply_point__customer_reference")
    list_select_related = ("account__supply_point", "order", "held_run")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HeldDecisionInline(DecisionAmounts, ReadOnlyInline):
    model = CreditDecision
    fk_name = "held_run"
    verbose_name_plural = gettext_lazy("Interruptions de ce passage")
    fields = ("account", "at", "decision", "action", "balance", "limit", "rule", "order")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("account__supply_point", "order")
            .order_by("pk")
        )


class HeldRunAdmin(admin.ModelAdmin):
    """The mass-cut guard's held runs: confirm and release, or reject."""

    list_display = (
        "created_at",
        "dso",
        "trigger",
        "count",
        "active_accounts",
        "status",
        "decided_at",
        "decided_by",
        "released_count",
        "skipped_count",
    )
    list_filter = ("status", "dso")
    readonly_fields = list_display
    fields = list_display
    inlines = [HeldDecisionInline]
    actions = ["confirm_and_release", "reject"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Confirmer et envoyer les interruptions"))
    def confirm_and_release(self, request: HttpRequest, queryset: QuerySet[HeldRun]):
        runs = list(queryset.filter(status=HeldRunStatus.HELD).select_related("dso"))
        if not runs:
            self.message_user(
                request, _("Aucun passage en attente dans la sélection."), messages.WARNING
            )
            return None
        if request.POST.get("confirmed") != "yes":
            # First show the list and the count; the operator confirms on that page.
            held = (
                CreditDecision.objects.filter(held_run__in=runs, decision=Decision.HELD)
                .select_related("account__supply_point", "held_run")
                .order_by("held_run", "pk")
            )
            context = {
                **self.admin_site.each_context(request),
                "title": _("Confirmer les interruptions retenues"),
                "runs": runs,
                "held": held,
                "count": held.count(),
                "opts": self.model._meta,
                "action": "confirm_and_release",
                "selected": [r.pk for r in runs],
            }
            return TemplateResponse(
                request, "admin/prepayment/heldrun/confirm_release.html", context
            )
        for run in runs:
            try:
                result = credit_control.release_held_run(run.pk, user=request.user)
            except (credit_control.NotInWindow, ValueError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(
                request,
                _("%(dso)s: %(sent)d interruptions envoyées, %(skipped)d plus justifiées.")
                % {
                    "dso": str(run.dso),
                    "sent": len(result.interrupted),
                    "skipped": len(result.skipped),
                },
                messages.SUCCESS,
            )
        return None

    @admin.action(description=gettext_lazy("Rejeter (n'envoyer aucune interruption)"))
    def reject(self, request: HttpRequest, queryset: QuerySet[HeldRun]) -> None:
        for run in queryset.filter(status=HeldRunStatus.HELD):
            n = credit_control.reject_held_run(run.pk, user=request.user)
            self.message_user(
                request,
                _("%(dso)s: %(n)d interruptions rejetées.") % {"dso": str(run.dso), "n": n},
                messages.SUCCESS,
            )


class CreditAccountAdmin(admin.ModelAdmin):
    """The account page when no other admin shows prepayment accounts."""

    list_display = ("supply_point", "state", "credit_state", "supply", "low_credit")
    list_filter = ("state", "credit_state", "supply")
    search_fields = ("supply_point__ean", "supply_point__customer_reference")
    list_select_related = ("supply_point",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def register(site: admin.AdminSite = admin.site) -> None:
    if not site.is_registered(CreditDecision):
        site.register(CreditDecision, CreditDecisionAdmin)
    if not site.is_registered(HeldRun):
        site.register(HeldRun, HeldRunAdmin)
    if not site.is_registered(PrepaymentAccount):
        site.register(PrepaymentAccount, CreditAccountAdmin)
    account_admin = site._registry[PrepaymentAccount]
    if DecisionInline not in account_admin.inlines:
        account_admin.inlines = [*account_admin.inlines, DecisionInline]  # type: ignore[misc]
