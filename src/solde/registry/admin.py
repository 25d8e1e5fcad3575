"""The operators' view of the registry: everything browsable and searchable."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from solde.identifiers import InvalidIdentifier, customer_reference, validate_ean
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
        (None, {"fields": ["code", "name", "ean_prefixes"]}),
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
        (
            _("Relevés (§4)"),
            {"fields": [("max_power_kw", "max_gas_flow_m3h"), "raw_readings_retention_months"]},
        ),
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
    """The meters and their exchange history; an exchange goes through the form's exchange
    fields (one service with the API and `solde exchange-meter`), not by editing dates."""

    model = Meter
    form = MeterForm
    extra = 0
    fields = ["serial", "registers", "installed_at", "removed_at"]
    readonly_fields = ["serial", "installed_at", "removed_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SupplyPointForm(forms.ModelForm):
    """Adding a supply point asks what `services.create_supply_point` needs (its supplier and
    meter); changing one can exchange its meter (`services.exchange_meter`)."""

    supplier = forms.ModelChoiceField(
        queryset=Supplier.objects.order_by("code"), required=False, label=_("fournisseur")
    )
    meter_serial = forms.CharField(max_length=40, required=False, label=_("numéro du compteur"))
    meter_registers = forms.CharField(
        max_length=60,
        required=False,
        label=_("registres du compteur"),
        help_text=_("Séparés par des virgules, p. ex. 1.8.1, 1.8.2"),
    )
    exchange_at = forms.DateTimeField(
        required=False,
        label=_("échange : posé le"),
        help_text=_("Vide : maintenant. Un nouveau numéro ferme le compteur actif."),
    )

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
            for name in ("supplier", "meter_serial", "meter_registers"):
                if not data.get(name):
                    self.add_error(name, _("Requis pour un nouveau point de fourniture."))
        registers = [r.strip() for r in (data.get("meter_registers") or "").split(",") if r]
        energy = data.get("energy") or getattr(self.instance, "energy", None)
        if registers and energy:
            try:
                data["meter_registers"] = services.validate_registers(energy, registers)
            except services.InvalidInput as exc:
                self.add_error("meter_registers", exc.detail)
        elif data.get("meter_serial") and self.instance.pk:
            active = services.current_meter(self.instance)
            data["meter_registers"] = active.registers if active else []
        serial = (data.get("meter_serial") or "").strip()
        if serial and Meter.objects.filter(serial=serial).exists():
            self.add_error("meter_serial", _("Ce numéro de compteur est déjà enregistré."))
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

    def get_fieldsets(self, request, obj=None):
        meter = (_("Compteur"), {"fields": ["meter_serial", "meter_registers"]})
        if obj is None:
            return [*self.fieldsets, (_("Fournisseur"), {"fields": ["supplier"]}), meter]
        exchange = (
            _("Échange de compteur"),
            {"fields": ["meter_serial", "meter_registers", "exchange_at"]},
        )
        return [*self.fieldsets, exchange]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj: SupplyPoint, form, change: bool) -> None:
        data = form.cleaned_data
        try:
            if not change:
                # The one creation path: reference, OGM, supplier, meter, pending account.
                created = services.create_supply_point(
                    services.NewSupplyPoint(
                        ean=obj.ean,
                        dso=obj.dso,
                        energy=obj.energy,
                        customer=obj.customer,
                        supplier=data["supplier"],
                        meter_serial=data["meter_serial"],
                        registers=data["meter_registers"],
                        tariff_category=obj.tariff_category,
                        protected=obj.protected,
                        street=obj.street,
                        number=obj.number,
                        postcode=obj.postcode,
                        city=obj.city,
                    )
                )
                obj.pk = created.pk
                obj.refresh_from_db()
                return
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                if data.get("meter_serial"):
                    services.exchange_meter(
                        obj, data["meter_serial"], data["meter_registers"], at=data["exchange_at"]
                    )
        except services.InvalidInput as exc:
            # Checked by the form first; a race (the same serial registered meanwhile) lands
            # here: the operator sees why and nothing was written.
            raise ValidationError(exc.detail) from None

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
    list_select_related = ["supply_point"]
    # Meters are added with their supply point and exchanged on its page (one service).
    readonly_fields = ["serial", "supply_point", "installed_at", "removed_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
