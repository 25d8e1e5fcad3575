"""DSOs, suppliers, customers, supply points, meters and their history, tariffs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Energy(models.TextChoices):
    ELECTRICITY = "electricity", _("Électricité")
    GAS = "gas", _("Gaz")


class TariffCategory(models.TextChoices):
    SOCIAL = "social", _("Tarif social")
    AVERAGE = "average", _("Tarif moyen")


# Registers and their units (RULES.md §4). Offtake is charged, injection only recorded.
ELECTRICITY_REGISTERS = ("1.8.1", "1.8.2", "2.8.1", "2.8.2")
GAS_REGISTERS = ("24.2.3",)
CHARGED_REGISTERS = {"electricity": ("1.8.1", "1.8.2"), "gas": ("24.2.3",)}
REGISTER_UNIT = {"1.8.1": "kWh", "1.8.2": "kWh", "2.8.1": "kWh", "2.8.2": "kWh", "24.2.3": "m3"}
ENERGY_REGISTERS = {"electricity": ELECTRICITY_REGISTERS, "gas": GAS_REGISTERS}


class Dso(models.Model):
    """A distribution system operator, with its own value for every *default* of RULES.md."""

    code = models.CharField(max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    # §6 prepayment account
    advance_electricity_cents = models.IntegerField(default=1000)
    advance_gas_cents = models.IntegerField(default=1000)
    advance_recovery_cents_per_day = models.IntegerField(default=100)
    emergency_credit_electricity_cents = models.IntegerField(default=1200)
    emergency_credit_gas_cents = models.IntegerField(default=1500)
    low_credit_threshold_cents = models.IntegerField(default=1000)
    low_credit_days = models.IntegerField(default=3)
    days_left_history = models.IntegerField(default=14)
    # §4 readings
    max_power_kw = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("60"))
    max_gas_flow_m3h = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("40"))
    # Raw index readings are kept this many months before the current one, then dropped by
    # `solde readings-retention`; the daily figures (DailyIndex, DayCharge) stay for good.
    raw_readings_retention_months = models.PositiveIntegerField(
        default=36,
        validators=[MinValueValidator(1)],
        help_text="Months of raw index readings kept before this month (daily figures stay).",
    )
    # §7 interruption
    window_start_hour = models.IntegerField(default=8)
    window_end_hour = models.IntegerField(default=16)
    window_weekdays = models.CharField(max_length=20, default="0,1,2,3,4", help_text="0=Monday")
    limiter_amps = models.IntegerField(default=10)
    gas_winter_start = models.CharField(max_length=5, default="11-01", help_text="MM-DD")
    gas_winter_end = models.CharField(max_length=5, default="03-15", help_text="MM-DD")
    mass_cut_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("2"))
    mass_cut_minimum = models.IntegerField(default=20)
    # §1 activation codes, §8 settlement
    activation_code_days = models.IntegerField(default=60)
    settlement_period = models.CharField(max_length=10, default="week")
    # The start of the DSO's EANs (comma-separated GS1 prefixes): a budget-meter file's EAN
    # that does not start with one is not the DSO's ("unknown EAN"). Empty: not checked.
    ean_prefixes = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        verbose_name = "DSO"

    def __str__(self) -> str:
        return self.code

    def owns_ean(self, ean: str) -> bool:
        prefixes = [p.strip() for p in self.ean_prefixes.split(",") if p.strip()]
        return not prefixes or any(ean.startswith(p) for p in prefixes)

    def advance_cents(self, energy: str) -> int:
        return self.advance_gas_cents if energy == Energy.GAS else self.advance_electricity_cents

    def emergency_credit_cents(self, energy: str) -> int:
        if energy == Energy.GAS:
            return self.emergency_credit_gas_cents
        return self.emergency_credit_electricity_cents


class GasConversionFactor(models.Model):
    """kWh per m³ for a DSO's gas, from a local date until the next factor."""

    dso = models.ForeignKey(Dso, on_delete=models.PROTECT, related_name="gas_factors")
    valid_from = models.DateField()
    kwh_per_m3 = models.DecimalField(max_digits=8, decimal_places=5)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dso", "valid_from"], name="uniq_gas_factor")
        ]
        ordering = ["dso", "valid_from"]

    def __str__(self) -> str:
        return f"{self.dso_id} {self.valid_from} {self.kwh_per_m3} kWh/m³"


class Supplier(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Customer(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    language = models.CharField(max_length=2, default="fr", choices=settings.LANGUAGES)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def masked_name(self) -> str:
        """`M. D…` — what a cashier may see."""
        first = (self.first_name[:1] + ".") if self.first_name else ""
        last = (self.last_name[:1] + "…") if self.last_name else ""
        return f"{first} {last}".strip()


class SupplyPoint(models.Model):
    """One EAN: one energy at one address, in prepayment."""

    ean = models.CharField(max_length=18, unique=True)
    dso = models.ForeignKey(Dso, on_delete=models.PROTECT, related_name="supply_points")
    energy = models.CharField(max_length=11, choices=Energy.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="supply_points")
    tariff_category = models.CharField(max_length=7, choices=TariffCategory.choices)
    protected = models.BooleanField(default=False, help_text="Protected customer (§7)")
    customer_reference = models.CharField(max_length=13, unique=True)
    structured_communication = models.CharField(max_length=20, unique=True, null=True)
    street = models.CharField(max_length=200, blank=True)
    number = models.CharField(max_length=20, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["dso", "energy"])]

    def __str__(self) -> str:
        return self.ean

    @property
    def address(self) -> str:
        return f"{self.street} {self.number}, {self.postcode} {self.city}".strip(" ,")

    def supplier_on(self, day: date) -> Supplier | None:
        row = (
            self.supplier_history.filter(valid_from__lte=day)
            .select_related("supplier")
            .order_by("-valid_from")
            .first()
        )
        return row.supplier if row else None


class SupplierAssignment(models.Model):
    """Which supplier serves a supply point, from a local date on (the history is kept)."""

    supply_point = models.ForeignKey(
        SupplyPoint, on_delete=models.CASCADE, related_name="supplier_history"
    )
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="assignments")
    valid_from = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["supply_point", "valid_from"], name="uniq_supplier_assignment"
            )
        ]
        ordering = ["supply_point", "valid_from"]


class Meter(models.Model):
    """A physical meter on a supply point, from installation to removal (exchange history)."""

    serial = models.CharField(max_length=40)
    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="meters")
    registers = models.JSONField(default=list, help_text='e.g. ["1.8.1", "1.8.2"]')
    installed_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["serial"], name="uniq_meter_serial")]

    def __str__(self) -> str:
        return self.serial


class Tariff(models.Model):
    """A price for (DSO, energy, category, register) from a local date until the next one.

    `register` empty means every charged register of the energy; a price for the register
    itself wins over it.
    """

    dso = models.ForeignKey(Dso, on_delete=models.PROTECT, related_name="tariffs")
    energy = models.CharField(max_length=11, choices=Energy.choices)
    category = models.CharField(max_length=7, choices=TariffCategory.choices)
    register = models.CharField(max_length=10, blank=True, default="")
    valid_from = models.DateField()
    price_eur_per_kwh = models.DecimalField(max_digits=9, decimal_places=5)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dso", "energy", "category", "register", "valid_from"], name="uniq_tariff"
            )
        ]
        ordering = ["dso", "energy", "category", "register", "valid_from"]

    def __str__(self) -> str:
        reg = self.register or "*"
        return f"{self.dso_id} {self.energy} {self.category} {reg} {self.valid_from}"
