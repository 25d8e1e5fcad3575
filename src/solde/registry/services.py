"""Registry operations: suppliers, tariffs, supply points. Each public service is one transaction.

Bad input raises `InvalidInput(field, detail)` before anything is written, so a caller (the API,
a command) can name the offending field and nothing is half-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils.translation import gettext as _

from solde import clock
from solde.identifiers import (
    InvalidIdentifier,
    customer_reference,
    structured_communication,
    validate_ean,
)
from solde.registry.models import (
    CHARGED_REGISTERS,
    ENERGY_REGISTERS,
    Customer,
    Dso,
    Energy,
    Meter,
    Supplier,
    SupplierAssignment,
    SupplyPoint,
    Tariff,
    TariffCategory,
)
from solde.registry.signals import supply_points_created

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PRICE = Decimal("10")  # €/kWh: anything above is a typo (a price in c€ or €/MWh)
_EAN_LOCK = 0x5EA7  # the first key of the advisory locks taken per EAN (schedule.py has its own)


class InvalidInput(ValueError):
    """Input refused; `field` names what to fix (dotted path, e.g. "meter.registers")."""

    def __init__(self, field: str, detail: str):
        super().__init__(detail)
        self.field = field
        self.detail = detail


class NotFound(LookupError):
    pass


# --- suppliers ---------------------------------------------------------------------------------


@transaction.atomic
def upsert_supplier(code: str, name: str) -> tuple[Supplier, bool]:
    """Create or rename a supplier. Returns (supplier, created)."""
    code = clean_text(code, "code")
    name = clean_text(name, "name")
    if not code or len(code) > 40:
        raise InvalidInput("code", "A supplier code has 1 to 40 characters.")
    if not name or len(name) > 200:
        raise InvalidInput("name", "Give the supplier's name (1 to 200 characters).")
    supplier, created = Supplier.objects.update_or_create(code=code, defaults={"name": name})
    return supplier, created


# --- tariffs -----------------------------------------------------------------------------------


def _dso(code: str, field: str = "dso") -> Dso:
    dso = Dso.objects.filter(code=clean_text(code, field).upper()).first()
    if dso is None:
        known = ", ".join(Dso.objects.order_by("code").values_list("code", flat=True))
        raise InvalidInput(field, f"Unknown DSO '{code}': use one of {known}.")
    return dso


def _choice(value: str, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        raise InvalidInput(
            field, f"'{value}' is not valid here: use one of {', '.join(choices.values)}."
        )
    return value


def _price(value: Any) -> Decimal:
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(
            "price_eur_per_kwh", 'Give the price as a decimal, e.g. "0.23441".'
        ) from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise InvalidInput(
            "price_eur_per_kwh", f"A price is between 0 and {MAX_PRICE} €/kWh; check the unit."
        )
    if price.as_tuple().exponent < -5:  # type: ignore[operator]
        raise InvalidInput("price_eur_per_kwh", "A price has at most 5 decimals.")
    return price


@transaction.atomic
def upsert_tariff(
    dso: str,
    energy: str,
    category: str,
    register: str | None,
    valid_from: date,
    price_eur_per_kwh: Decimal | str,
) -> tuple[Tariff, bool]:
    """Create or replace one price. `register` None/"" = every charged register of the energy.

    Returns (tariff, created).
    """
    dso_obj = _dso(dso)
    energy = _choice(energy, Energy, "energy")
    category = _choice(category, TariffCategory, "category")
    register = (register or "").strip()
    if register and register not in CHARGED_REGISTERS[energy]:
        charged = ", ".join(CHARGED_REGISTERS[energy])
        raise InvalidInput(
            "register",
            f"Register '{register}' is not charged for {energy}: use {charged}, or null for all.",
        )
    price = _price(price_eur_per_kwh)
    tariff, created = Tariff.objects.update_or_create(
        dso=dso_obj,
        energy=energy,
        category=category,
        register=register,
        valid_from=valid_from,
        defaults={"price_eur_per_kwh": price},
    )
    return tariff, created


# --- supply points -----------------------------------------------------------------------------


@dataclass
class SupplyPointData:
    """What `PUT /supply-points/{ean}` carries (API.md); nested parts as plain dicts."""

    dso: str
    energy: str
    supplier: str
    tariff_category: str
    protected: bool = False
    language: str = "fr"
    customer: dict | None = None
    address: dict | None = None
    meter: dict | None = None

    @classmethod
    def from_dict(cls, data: dict) -> SupplyPointData:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def validate_registers(energy: str, registers: Any, field: str = "meter.registers") -> list[str]:
    """The meter's registers, checked against its energy (RULES.md §4), in a stable order."""
    if not isinstance(registers, list | tuple) or not registers:
        raise InvalidInput(field, 'List the meter\'s registers, e.g. ["1.8.1", "1.8.2"].')
    allowed = ENERGY_REGISTERS[energy]
    wrong = [r for r in registers if r not in allowed]
    if wrong:
        raise InvalidInput(
            field,
            f"Register {wrong[0]} does not exist for {energy}: use {', '.join(allowed)}.",
        )
    if not set(CHARGED_REGISTERS[energy]) & set(registers):
        raise InvalidInput(
            field,
            f"A {energy} meter needs an offtake register ({', '.join(CHARGED_REGISTERS[energy])}).",
        )
    return [r for r in allowed if r in registers]


def clean_text(value: Any, field: str) -> str:
    """Strip a text value; refuse control characters (PostgreSQL refuses NUL, nobody types them)."""
    value = "" if value is None else str(value).strip()
    if _CONTROL.search(value):
        raise InvalidInput(field, f"{field} contains control characters; send plain text.")
    return value


def _text(part: dict, key: str, field: str, max_length: int, required: bool = False) -> str:
    value = clean_text(part.get(key), field)
    if required and not value:
        raise InvalidInput(field, f"Give {field}.")
    if len(value) > max_length:
        raise InvalidInput(field, f"{field} has at most {max_length} characters.")
    return value


def _customer_fields(part: dict | None) -> dict[str, str]:
    part = part or {}
    out = {
        "first_name": _text(part, "first_name", "customer.first_name", 100),
        "last_name": _text(part, "last_name", "customer.last_name", 100, required=True),
        "email": _text(part, "email", "customer.email", 254),
        "phone": _text(part, "phone", "customer.phone", 30),
    }
    if out["email"]:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(out["email"])
        except ValidationError:
            raise InvalidInput("customer.email", "The e-mail address is not valid.") from None
    return out


def _address_fields(part: dict | None) -> dict[str, str]:
    part = part or {}
    return {
        "street": _text(part, "street", "address.street", 200),
        "number": _text(part, "number", "address.number", 20),
        "postcode": _text(part, "postcode", "address.postcode", 10),
        "city": _text(part, "city", "address.city", 100),
    }


def _meter_fields(energy: str, part: dict | None) -> tuple[str, list[str], datetime | None]:
    part = part or {}
    serial = _text(part, "serial", "meter.serial", 40, required=True)
    registers = validate_registers(energy, part.get("registers"))
    installed_at = part.get("installed_at")
    if installed_at is not None and not isinstance(installed_at, datetime):
        try:
            installed_at = datetime.fromisoformat(str(installed_at))
        except ValueError:
            raise InvalidInput(
                "meter.installed_at", "Give an ISO 8601 instant with an offset."
            ) from None
    if installed_at is not None and installed_at.tzinfo is None:
        raise InvalidInput("meter.installed_at", "Give the instant with its offset (+01:00).")
    return serial, registers, installed_at


@dataclass
class UpsertResult:
    supply_point: SupplyPoint
    created: bool
    changes: list[str]


@dataclass
class NewSupplyPoint:
    """One supply point to create, with its customer, address, supplier and first meter.

    `customer` is a saved customer (a second energy of a known household) or an unsaved one,
    created with it. Checked by `create_supply_points` before anything is written."""

    ean: str
    dso: Dso
    energy: str
    customer: Customer
    supplier: Supplier
    meter_serial: str
    registers: list[str]
    tariff_category: str = TariffCategory.AVERAGE
    protected: bool = False
    street: str = ""
    number: str = ""
    postcode: str = ""
    city: str = ""
    meter_installed_at: datetime | None = None
    supplier_since: date | None = None  # default: today


def create_supply_points(items: list[NewSupplyPoint]) -> list[tuple[SupplyPoint, Meter]]:
    """The one way a supply point comes to exist (API, admin, demo, migration, tests).

    Set-based: a thousand supply points are a handful of queries. Each gets its customer
    reference (last 13 digits of the EAN), its structured communication (from its row id), its
    supplier from `supplier_since`, its meter, and — through `supply_points_created`, in this
    transaction — its pending prepayment account. Refuses the whole batch (InvalidInput naming
    the EAN) on a bad EAN, an EAN, customer reference or meter serial already used, or registers
    the energy does not have. Runs in the caller's transaction (or its own)."""
    if not items:
        return []
    eans, refs, serials = set(), set(), set()
    for item in items:
        try:
            item.ean = validate_ean(item.ean)
        except InvalidIdentifier as exc:
            raise InvalidInput("ean", str(exc)) from None
        _choice(item.energy, Energy, "energy")
        _choice(item.tariff_category, TariffCategory, "tariff_category")
        item.registers = validate_registers(item.energy, item.registers)
        serial = clean_text(item.meter_serial, "meter.serial")
        if not serial or len(serial) > 40:
            raise InvalidInput("meter.serial", f"Give the meter serial of EAN {item.ean}.")
        item.meter_serial = serial
        ref = customer_reference(item.ean)
        if item.ean in eans or ref in refs or serial in serials:
            raise InvalidInput("ean", f"EAN {item.ean} (or its meter {serial}) is given twice.")
        eans.add(item.ean)
        refs.add(ref)
        serials.add(serial)
    with transaction.atomic():
        for chunk in _chunks(sorted(eans)):
            taken = SupplyPoint.objects.filter(ean__in=chunk).values_list("ean", flat=True).first()
            if taken:
                raise InvalidInput("ean", f"EAN {taken} is already registered.")
        for chunk in _chunks(sorted(refs)):
            taken = (
                SupplyPoint.objects.filter(customer_reference__in=chunk)
                .values_list("customer_reference", flat=True)
                .first()
            )
            if taken:
                raise InvalidInput(
                    "ean",
                    f"Another EAN already ends with {taken}; the customer reference must be "
                    "unique.",
                )
        for chunk in _chunks(sorted(serials)):
            taken = Meter.objects.filter(serial__in=chunk).values_list("serial", flat=True).first()
            if taken:
                raise InvalidInput(
                    "meter.serial",
                    f"Meter {taken} is registered on another supply point; remove it there first.",
                )
        new_customers = {id(i.customer): i.customer for i in items if i.customer.pk is None}
        if new_customers:
            saved = Customer.objects.bulk_create(list(new_customers.values()))
            if saved and saved[0].pk is None:  # backends that do not return ids
                for c in new_customers.values():
                    c.save()
        sps = SupplyPoint.objects.bulk_create(
            [
                SupplyPoint(
                    ean=i.ean,
                    dso=i.dso,
                    energy=i.energy,
                    customer=i.customer,
                    tariff_category=i.tariff_category,
                    protected=i.protected,
                    customer_reference=customer_reference(i.ean),
                    street=i.street,
                    number=i.number,
                    postcode=i.postcode,
                    city=i.city,
                )
                for i in items
            ]
        )
        if sps and sps[0].pk is None:
            by_ean = {sp.ean: sp for sp in SupplyPoint.objects.filter(ean__in=list(eans))}
            sps = [by_ean[i.ean] for i in items]
        # The OGM comes from the row id: unique by construction, never reused.
        for sp in sps:
            sp.structured_communication = structured_communication(sp.pk)
        SupplyPoint.objects.bulk_update(sps, ["structured_communication"], batch_size=1000)
        today = clock.today()
        SupplierAssignment.objects.bulk_create(
            [
                SupplierAssignment(
                    supply_point=sp, supplier=i.supplier, valid_from=i.supplier_since or today
                )
                for sp, i in zip(sps, items, strict=True)
            ]
        )
        meters = Meter.objects.bulk_create(
            [
                Meter(
                    serial=i.meter_serial,
                    supply_point=sp,
                    registers=i.registers,
                    installed_at=i.meter_installed_at,
                )
                for sp, i in zip(sps, items, strict=True)
            ]
        )
        if meters and meters[0].pk is None:
            by_serial = {m.serial: m for m in Meter.objects.filter(serial__in=list(serials))}
            meters = [by_serial[i.meter_serial] for i in items]
        supply_points_created.send(sender=SupplyPoint, supply_point_ids=[sp.pk for sp in sps])
    return list(zip(sps, meters, strict=True))


def create_supply_point(item: NewSupplyPoint) -> SupplyPoint:
    """One supply point (see `create_supply_points`)."""
    return create_supply_points([item])[0][0]


def assign_suppliers(rows: list[tuple[SupplyPoint, Supplier, date]]) -> int:
    """Supplier changes from a local date on (the history is kept; a second change on the same
    day replaces it). Set-based; in the caller's transaction. Returns how many rows."""
    with transaction.atomic():
        for sp, supplier, since in rows:
            SupplierAssignment.objects.update_or_create(
                supply_point=sp, valid_from=since, defaults={"supplier": supplier}
            )
    return len(rows)


def _chunks(values: list, size: int = 500):
    for i in range(0, len(values), size):
        yield values[i : i + size]


def exchange_meter(
    sp: SupplyPoint,
    new_serial: str,
    registers: list[str],
    at: datetime | None = None,
    old_serial: str | None = None,
) -> Meter:
    """The one way a meter is exchanged (API upsert, `solde exchange-meter`, admin, console).

    The supply point's active meter (`old_serial` if given must be it) is closed at `at` and
    the new one opened at `at` (default now); both are kept so readings continue across the
    exchange. Refuses a future or naive instant, one not after the old meter's installation, a
    serial already registered (a serial is one physical meter, registered once), registers the
    energy does not have. The technician's indexes are the readings app's part
    (`readings.services.exchange_meter` calls this, then records them)."""
    with transaction.atomic():
        now = clock.now()
        at = at or now
        if at.tzinfo is None:
            raise InvalidInput("at", _("L'instant de l'échange doit avoir un fuseau horaire."))
        if at > now + EXCHANGE_FUTURE_TOLERANCE:
            raise InvalidInput(
                "at", _("L'instant de l'échange %(at)s est dans le futur.") % {"at": _local(at)}
            )
        registers = validate_registers(sp.energy, registers)
        new_serial = clean_text(new_serial, "meter.serial")
        active = (
            Meter.objects.select_for_update()
            .filter(supply_point=sp, removed_at__isnull=True)
            .order_by("-id")
            .first()
        )
        if old_serial is not None:
            old = Meter.objects.filter(serial=old_serial, supply_point=sp).first()
            if old is None:
                raise InvalidInput(
                    "meter.serial",
                    _("Le compteur %(serial)s n'est pas un compteur de l'EAN %(ean)s.")
                    % {"serial": old_serial, "ean": sp.ean},
                )
            if old.removed_at is not None:
                raise InvalidInput(
                    "meter.serial",
                    _("Le compteur %(serial)s a déjà été retiré le %(when)s.")
                    % {"serial": old_serial, "when": _local(old.removed_at)},
                )
            active = old
        if active is not None and active.installed_at is not None and at <= active.installed_at:
            raise InvalidInput(
                "at",
                _("Le compteur %(serial)s a été posé le %(when)s : l'échange doit venir après.")
                % {"serial": active.serial, "when": _local(active.installed_at)},
            )
        if (
            not new_serial
            or len(new_serial) > 40
            or Meter.objects.filter(serial=new_serial).exists()
        ):
            raise InvalidInput(
                "meter.serial",
                _("Le numéro de compteur « %(serial)s » est vide ou déjà enregistré.")
                % {"serial": new_serial},
            )
        if active is not None:
            active.removed_at = at
            active.save(update_fields=["removed_at"])
        return Meter.objects.create(
            serial=new_serial, supply_point=sp, registers=registers, installed_at=at
        )


EXCHANGE_FUTURE_TOLERANCE = timedelta(minutes=5)


def _local(at: datetime) -> str:
    return clock.local(at).strftime("%Y-%m-%d %H:%M")


def _take_turns(ean: str) -> None:
    """Two registrations of one EAN at once take turns until commit (PostgreSQL).

    A row lock cannot hold a supply point that does not exist yet: without this, the second
    would find no row, then see the first's committed one and refuse it as "already registered"
    instead of updating it. SQLite has one writer at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_EAN_LOCK, ean])


@transaction.atomic
def upsert_supply_point(ean: str, data: SupplyPointData | dict) -> UpsertResult:
    """Create or update a supply point, its customer, address, meter and supplier.

    A new supply point is made by `create_supply_points`. The DSO and energy of an existing EAN
    never change (a new EAN is needed). A supplier change starts a new assignment today; a new
    meter serial is a meter exchange (`exchange_meter`).
    """
    if isinstance(data, dict):
        data = SupplyPointData.from_dict(data)
    try:
        ean = validate_ean(ean)
    except InvalidIdentifier as exc:
        raise InvalidInput("ean", str(exc)) from None
    dso = _dso(data.dso)
    energy = _choice(data.energy, Energy, "energy")
    category = _choice(data.tariff_category, TariffCategory, "tariff_category")
    languages = [code for code, _name in settings.LANGUAGES]
    if data.language not in languages:
        raise InvalidInput("language", f"Choose the language among {', '.join(languages)}.")
    if not isinstance(data.protected, bool):
        raise InvalidInput("protected", "protected is true or false.")
    supplier = Supplier.objects.filter(code=clean_text(data.supplier, "supplier")).first()
    if supplier is None:
        raise InvalidInput(
            "supplier",
            f"Unknown supplier '{data.supplier}': "
            "create it first with PUT /api/v1/suppliers/{code}.",
        )
    customer_fields = _customer_fields(data.customer)
    address = _address_fields(data.address)
    serial, registers, installed_at = _meter_fields(energy, data.meter)

    _take_turns(ean)
    sp = SupplyPoint.objects.select_for_update().filter(ean=ean).first()
    if sp is None:
        # A new supply point of a known customer (same e-mail and name, e.g. gas next to
        # electricity) joins that customer so the portal shows both.
        customer = None
        if customer_fields["email"]:
            customer = Customer.objects.filter(
                email__iexact=customer_fields["email"],
                last_name__iexact=customer_fields["last_name"],
                first_name__iexact=customer_fields["first_name"],
            ).first()
        if customer is None:
            customer = Customer(language=data.language, **customer_fields)
        else:
            dirty = []
            for key, value in {**customer_fields, "language": data.language}.items():
                if getattr(customer, key) != value:
                    setattr(customer, key, value)
                    dirty.append(key)
            if dirty:
                customer.save(update_fields=dirty)
        created_sp = create_supply_point(
            NewSupplyPoint(
                ean=ean,
                dso=dso,
                energy=energy,
                customer=customer,
                supplier=supplier,
                meter_serial=serial,
                registers=registers,
                meter_installed_at=installed_at,
                tariff_category=category,
                protected=data.protected,
                street=address["street"],
                number=address["number"],
                postcode=address["postcode"],
                city=address["city"],
            )
        )
        return UpsertResult(supply_point=created_sp, created=True, changes=[])

    changes: list[str] = []
    if sp.dso_id != dso.code:
        raise InvalidInput(
            "dso",
            f"EAN {ean} belongs to {sp.dso_id}; a supply point never changes DSO "
            "(register the new EAN instead).",
        )
    if sp.energy != energy:
        raise InvalidInput(
            "energy",
            f"EAN {ean} is {sp.energy}; a supply point never changes energy "
            "(an EAN is one energy at one address).",
        )
    other_meter = Meter.objects.filter(serial=serial).exclude(supply_point__ean=ean).first()
    if other_meter is not None:
        raise InvalidInput(
            "meter.serial",
            f"Meter {serial} is registered on another supply point; remove it there first.",
        )
    customer = sp.customer
    dirty = []
    for key, value in {**customer_fields, "language": data.language}.items():
        if getattr(customer, key) != value:
            setattr(customer, key, value)
            dirty.append(key)
    if dirty:
        customer.save(update_fields=dirty)
        changes.append("customer")
    fields = {"tariff_category": category, "protected": data.protected, **address}
    dirty = [k for k, v in fields.items() if getattr(sp, k) != v]
    for k in dirty:
        setattr(sp, k, fields[k])
    if dirty:
        sp.save(update_fields=[*dirty, "updated_at"])
        changes += dirty

    today = clock.today()
    current = sp.supplier_history.order_by("-valid_from").first()
    if current is None or current.supplier_id != supplier.pk:
        # Keep the history: a change starts today (a second change today replaces today's).
        SupplierAssignment.objects.update_or_create(
            supply_point=sp, valid_from=today, defaults={"supplier": supplier}
        )
        changes.append("supplier")

    active = sp.meters.filter(removed_at__isnull=True).order_by("-id").first()
    if active is not None and active.serial == serial:
        meter_dirty = []
        if active.registers != registers:
            active.registers = registers
            meter_dirty.append("registers")
        if installed_at is not None and active.installed_at != installed_at:
            active.installed_at = installed_at
            meter_dirty.append("installed_at")
        if meter_dirty:
            active.save(update_fields=meter_dirty)
            changes.append("meter")
    else:
        exchange_meter(sp, serial, registers, at=installed_at)
        changes.append("meter_exchange")
    return UpsertResult(supply_point=sp, created=False, changes=changes)


def get_supply_point(ean: str) -> SupplyPoint:
    """A supply point with what the API shows of it, or NotFound."""
    sp = (
        SupplyPoint.objects.select_related("dso", "customer")
        .prefetch_related("supplier_history__supplier", "meters")
        .filter(ean=clean_text(ean, "ean"))
        .first()
    )
    if sp is None:
        raise NotFound(f"No supply point with EAN {ean}.")
    return sp


def current_meter(sp: SupplyPoint) -> Meter | None:
    meters = [m for m in sp.meters.all() if m.removed_at is None]
    return max(meters, key=lambda m: m.pk) if meters else None


def current_supplier(sp: SupplyPoint) -> Supplier | None:
    today = clock.today()
    rows = [a for a in sp.supplier_history.all() if a.valid_from <= today]
    if not rows:
        rows = list(sp.supplier_history.all())
    return max(rows, key=lambda a: a.valid_from).supplier if rows else None
