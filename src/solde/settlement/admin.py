"""Operators' screens for supplier statements: issue, mark paid, export."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from solde.money import format_eur
from solde.settlement import services
from solde.settlement.models import Statement, StatementLine, SupplierPrice


class LineInline(admin.TabularInline):
    model = StatementLine
    fields = ("kind", "ean", "day", "channel", "amount", "reference", "topup")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Montant"))
    def amount(self, obj):
        return f"{format_eur(obj.amount_cents)} €"


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "supplier",
        "period_start",
        "period_end",
        "status",
        "total",
        "issued_at",
        "paid_at",
    )
    list_filter = ("status", "supplier")
    readonly_fields = (
        "supplier",
        "period",
        "period_start",
        "period_end",
        "status",
        "number",
        "total",
        "totals",
        "created_at",
        "issued_at",
        "issued_by",
        "paid_at",
        "paid_by",
    )
    exclude = ("total_cents",)
    inlines = [LineInline]
    actions = ["issue", "mark_paid", "export_csv", "export_xml"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Total"))
    def total(self, obj):
        return f"{format_eur(obj.total_cents)} €"

    @admin.action(description=_("Émettre (le relevé ne changera plus)"))
    def issue(self, request, queryset):
        for s in queryset.filter(status="draft"):
            services.issue_statement(s, by=request.user.get_username())

    @admin.action(description=_("Marquer payé"))
    def mark_paid(self, request, queryset):
        for s in queryset:
            try:
                services.mark_paid(s, by=request.user.get_username())
            except services.SettlementError as exc:
                messages.error(request, f"{s}: {exc}")

    def _one(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, _("Choisissez un seul relevé à exporter."))
            return None
        return queryset.select_related("supplier").first()

    @admin.action(description=_("Exporter en CSV"))
    def export_csv(self, request, queryset):
        s = self._one(request, queryset)
        if s is None:
            return None
        resp = HttpResponse(services.export_csv(s), content_type="text/csv; charset=utf-8")
        resp["Content-Disposition"] = f'attachment; filename="statement-{s.pk}.csv"'
        return resp

    @admin.action(description=_("Exporter en XML"))
    def export_xml(self, request, queryset):
        s = self._one(request, queryset)
        if s is None:
            return None
        resp = HttpResponse(services.export_xml(s), content_type="application/xml")
        resp["Content-Disposition"] = f'attachment; filename="statement-{s.pk}.xml"'
        return resp


@admin.register(SupplierPrice)
class SupplierPriceAdmin(admin.ModelAdmin):
    list_display = ("supplier", "energy", "register", "valid_from", "price_eur_per_kwh")
    list_filter = ("supplier", "energy")
