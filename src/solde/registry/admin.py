"""The operators' view of the registry: everything browsable and searchable."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from solde.identifiers import (
    InvalidIdentifier,
    customer_reference,
    structured_communication,
    validate_ean,
)
from solde.registry import services
from solde.registry.models import (
    Customer,
    Dso,
    GasConversionFactor,
    Meter,
    Supplier,
    SupplierAssignment,
    SupplyPoint,
    Tariff,
)


class GasConversionFactorInline(admin.TabularInline):
    model = GasConversionFactor
    extra = 0


@admin.register(Dso)
class DsoAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "advance_electricity_cents",
        "emergency_credit_electricity_cents",
        "emergency_credit_gas_cents",
        "low_credit_threshold_cents",
        "settlement_period",
    ]
    search_fields = ["code", "name"]
    inlines = [GasConversionFactorInline]
    # Grouped as RULES.md groups the defaults, so an operator finds each one where the rule is.
    fieldsets = [
        (None, {"fields": ["code", "name"]}),
        (
            _("Compte de prépaiement (§6) — montants en centimes"),
            {
                "fields": [
                    ("advance_electricity_cents", "advance_gas_cents"),
                    "advance_recovery_cents_per_day",
                    ("emergency_credit_electricity_cents", "emergency_credit_gas_cents"),
                    ("low_credit_threshold_cents", "low_credit_days"),
                    "days_left_history",
                ]
            },
        ),
        (_("Relevés (§4)"), {"fields": [("max_power_kw", "max_gas_flow_m3h")]}),
        (
            _("Interruption (§7)"),
            {
                "fields": [
                    ("window_start_hour", "window_end_hour"),
                    "window_weekdays",
                    "limiter_amps",
                    ("gas_winter_start", "gas_winter_end"),
                    ("mass_cut_percent", "mass_cut_minimum"),
                ]
            },
        ),
        (
            _("Codes d'activation (§1) et décompte (§8)"),
            {"fields": ["activation_code_days", "settlement_period"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # supply points, tariffs and history hang on it


@admin.register(GasConversionFactor)
class GasConversionFactorAdmin(admin.ModelAdmin):
    list_display = ["dso", "valid_from", "kwh_per_m3"]
    list_filter = ["dso"]
    search_fields = ["dso__code"]
    date_hierarchy = "valid_from"


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class SupplyPointOfCustomerInline(admin.TabularInline):
    model = SupplyPoint
    fields = ("ean", "energy", "dso", "tariff_category", "protected", "postcode", "city")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["last_name", "first_name", "email", "phone", "language", "created_at"]
    list_filter = ["language"]
    search_fields = [
        "last_name",
        "first_name",
        "email",
        "phone",
        "supply_points__ean",
        "supply_points__customer_reference",
    ]
    raw_id_fields = ["user"]
    inlines = [SupplyPointOfCustomerInline]


class SupplierAssignmentInline(admin.TabularInline):
    model = SupplierAssignment
    extra = 0
    verbose_name = _("fournisseur (historique)")
    verbose_name_plural = _("fournisseurs (historique)")


class MeterForm(forms.ModelForm):
    class Meta:
        model = Meter
        fields = ["serial", "supply_point", "registers", "installed_at", "removed_at"]

    def clean(self):
        data = super().clean()
        sp = data.get("supply_point") or getattr(self.instance, "supply_point", None)
        if sp is not None and "registers" in data:
            try:
                data["registers"] = services.validate_registers(sp.energy, data["registers"])
            except services.InvalidInput as exc:
                self.add_error("registers", exc.detail)
        return data


class MeterInline(admin.TabularInline):
    model = Meter
    form = MeterForm
    extra = 0
    fields = ["serial", "registers", "installed_at", "removed_at"]


class SupplyPointForm(forms.ModelForm):
    class Meta:
        model = SupplyPoint
        fields = [
            "ean",
            "dso",
            "energy",
            "customer",
            "tariff_category",
            "protected",
            "street",
            "number",
            "postcode",
            "city",
        ]

    def clean_ean(self):
        try:
            return validate_ean(self.cleaned_data["ean"])
        except InvalidIdentifier as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        ean = data.get("ean")
        if ean and not self.instance.pk:
            ref = customer_reference(ean)
            if SupplyPoint.objects.filter(customer_reference=ref).exists():
                self.add_error("ean", _("Un autre EAN se termine déjà par %(ref)s.") % {"ref": ref})
        return data


@admin.register(SupplyPoint)
class SupplyPointAdmin(admin.ModelAdmin):
    form = SupplyPointForm
    list_display = [
        "ean",
        "customer_reference",
        "customer",
        "dso",
        "energy",
        "tariff_category",
        "protected",
        "postcode",
        "city",
        "account_state",
    ]
    list_filter = ["dso", "energy", "tariff_category", "protected", "account__state"]
    search_fields = [
        "ean",
        "customer_reference",
        "structured_communication",
        "customer__last_name",
        "customer__first_name",
        "customer__email",
        "meters__serial",
        "postcode",
        "city",
        "street",
    ]
    list_select_related = ["customer", "dso", "account"]
    raw_id_fields = ["customer"]
    inlines = [SupplierAssignmentInline, MeterInline]
    readonly_fields = ["customer_reference", "structured_communication", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["ean", "dso", "energy", "customer"]}),
        (_("Prépaiement"), {"fields": ["tariff_category", "protected"]}),
        (_("Adresse"), {"fields": [("street", "number"), ("postcode", "city")]}),
        (
            _("Identifiants"),
            {
                "fields": [
                    "customer_reference",
                    "structured_communication",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    @admin.display(description=_("compte"), ordering="account__state")
    def account_state(self, obj: SupplyPoint) -> str:
        account = getattr(obj, "account", None)
        return account.get_state_display() if account else "—"

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["ean", "dso", "energy"]  # an EAN never changes DSO or energy
        return fields

    def get_search_results(self, request, queryset, search_term):
        # A reference typed with spaces, dots or dashes still finds its supply point.
        from solde.identifiers import normalize_reference

        queryset, dup = super().get_search_results(request, queryset, search_term)
        digits = normalize_reference(search_term)
        if digits.isdigit() and digits != search_term.strip():
            queryset |= self.model.objects.filter(customer_reference=digits[-13:])
            dup = True
        return queryset, dup

    def save_model(self, request, obj: SupplyPoint, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        from solde.prepayment.services import open_account

        # A supply point made here gets what the API gives one: reference, OGM, pending account.
        with transaction.atomic():
            obj.customer_reference = customer_reference(obj.ean)
            obj.save()
            obj.structured_communication = structured_communication(obj.pk)
            obj.save(update_fields=["structured_communication"])
            open_account(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger refers to it; a move-out closes the account instead


@admin.register(SupplierAssignment)
class SupplierAssignmentAdmin(admin.ModelAdmin):
    list_display = ["supply_point", "supplier", "valid_from"]
    list_filter = ["supplier"]
    search_fields = ["supply_point__ean", "supply_point__customer_reference", "supplier__code"]
    raw_id_fields = ["supply_point"]
    list_select_related = ["supply_point", "supplier"]
    date_hierarchy = "valid_from"


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    form = MeterForm
    list_display = ["serial", "supply_point", "registers", "installed_at", "removed_at"]
    list_filter = [
        "supply_point__dso",
        "supply_point__energy",
        ("removed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["serial", "supply_point__ean", "supply_point__customer_reference"]
    raw_id_fields = ["supply_point"]
    list_select_related = ["supply_point"]


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "dso",
        "energy",
        "category",
        "register_label",
        "valid_from",
        "price_eur_per_kwh",
    ]
    list_filter = ["dso", "energy", "category", "register"]
    search_fields = ["dso__code", "register", "energy", "category"]
    date_hierarchy = "valid_from"

    @admin.display(description=_("registre"), ordering="register")
    def register_label(self, obj: Tariff) -> str:
        return obj.register or str(_("tous"))
