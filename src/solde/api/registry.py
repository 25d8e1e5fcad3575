"""Registry endpoints (API.md): suppliers, tariffs, supply points. Thin: the work is in
solde.registry.services; this module maps its errors to the API's error shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypeVar

from django.db import IntegrityError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from solde.api.auth import scoped
from solde.api.errors import invalid, not_found, responses
from solde.api.types import Day, Flag, Instant, Price
from solde.registry import services
from solde.registry.models import Supplier, SupplyPoint, Tariff

router = Router(tags=["registry"])

T = TypeVar("T")


def _call(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a service; its refusals become 422 naming the field, unknown things 404."""
    try:
        return fn(*args, **kwargs)
    except services.InvalidInput as exc:
        raise invalid(exc.field, exc.detail) from None
    except services.NotFound as exc:
        raise not_found(str(exc)) from None


# --- suppliers ---------------------------------------------------------------------------------


class SupplierIn(Schema):
    name: str = Field(..., min_length=1, max_length=200, examples=["Énergie Exemple SA"])


class SupplierOut(Schema):
    code: str
    name: str


@router.put(
    "/suppliers/{code}",
    auth=scoped("registry"),
    response=responses({200: SupplierOut, 201: SupplierOut}),
    summary="Create or rename a supplier",
)
def put_supplier(request: HttpRequest, code: str, payload: SupplierIn):
    supplier, created = _call(services.upsert_supplier, code, payload.name)
    return Status(201 if created else 200, {"code": supplier.code, "name": supplier.name})


@router.get(
    "/suppliers",
    auth=scoped("read"),
    response=responses({200: list[SupplierOut]}),
    summary="List the suppliers",
)
def list_suppliers(request: HttpRequest):
    return [{"code": s.code, "name": s.name} for s in Supplier.objects.order_by("code")]


# --- tariffs -----------------------------------------------------------------------------------

Energy = Literal["electricity", "gas"]
Category = Literal["social", "average"]


# "register" (the contract's name) would shadow pydantic's own `register`, so the field is
# `register_` with the alias "register" on the wire.
class TariffIn(Schema):
    dso: str = Field(..., max_length=20, examples=["RESA"])
    energy: Energy
    category: Category
    register_: str | None = Field(None, alias="register", max_length=10, examples=["1.8.1"])
    valid_from: Day
    price_eur_per_kwh: Price


class TariffOut(Schema):
    dso: str
    energy: str
    category: str
    register_: str | None = Field(..., alias="register")
    valid_from: date
    price_eur_per_kwh: str


def _tariff_out(t: Tariff) -> dict:
    return {
        "dso": t.dso_id,
        "energy": t.energy,
        "category": t.category,
        "register": t.register or None,
        "valid_from": t.valid_from,
        "price_eur_per_kwh": str(Decimal(t.price_eur_per_kwh).quantize(Decimal("0.00001"))),
    }


@router.put(
    "/tariffs",
    auth=scoped("registry"),
    response=responses({200: TariffOut, 201: TariffOut}),
    by_alias=True,
    summary="Create or replace one price",
    description="`register` null: the price applies to every charged register of the energy; "
    "a price for the register itself wins over it. 201 when created, 200 when replaced.",
)
def put_tariff(request: HttpRequest, payload: TariffIn):
    tariff, created = _call(
        services.upsert_tariff,
        payload.dso,
        payload.energy,
        payload.category,
        payload.register_,
        payload.valid_from,
        payload.price_eur_per_kwh,
    )
    return Status(201 if created else 200, _tariff_out(tariff))


class TariffFilter(Schema):
    dso: str | None = Field(None, max_length=20)
    energy: Energy | None = None
    category: Category | None = None


@router.get(
    "/tariffs",
    auth=scoped("read"),
    response=responses({200: list[TariffOut]}),
    by_alias=True,
    summary="List the prices, oldest first per key",
)
def list_tariffs(request: HttpRequest, filters: Query[TariffFilter]):
    qs = Tariff.objects.all()
    if filters.dso:
        qs = qs.filter(dso_id=_call(services.clean_text, filters.dso, "dso").upper())
    if filters.energy:
        qs = qs.filter(energy=filters.energy)
    if filters.category:
        qs = qs.filter(category=filters.category)
    return [_tariff_out(t) for t in qs]


# --- supply points -----------------------------------------------------------------------------


class CustomerIn(Schema):
    first_name: str = Field("", max_length=100)
    last_name: str = Field(..., min_length=1, max_length=100)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=30)


class AddressIn(Schema):
    street: str = Field("", max_length=200)
    number: str = Field("", max_length=20)
    postcode: str = Field("", max_length=10)
    city: str = Field("", max_length=100)


class MeterIn(Schema):
    serial: str = Field(..., min_length=1, max_length=40)
    registers: list[str] = Field(..., min_length=1, examples=[["1.8.1", "1.8.2", "2.8.1", "2.8.2"]])
    installed_at: Instant | None = Field(
        None, description="When the meter was fitted; for a new serial (exchange) default now."
    )


class SupplyPointIn(Schema):
    dso: str = Field(..., max_length=20, examples=["RESA"])
    energy: Energy
    supplier: str = Field(..., max_length=40, examples=["SUPPLIER-A"])
    tariff_category: Category
    protected: Flag = False
    language: Literal["fr", "nl", "de", "en"] = "fr"
    customer: CustomerIn
    address: AddressIn | None = None
    meter: MeterIn


class CustomerOut(Schema):
    first_name: str
    last_name: str
    email: str
    phone: str


class AddressOut(Schema):
    street: str
    number: str
    postcode: str
    city: str


class MeterOut(Schema):
    serial: str
    registers: list[str]
    installed_at: datetime | None


class SupplyPointOut(Schema):
    ean: str
    dso: str
    energy: str
    supplier: str | None
    tariff_category: str
    protected: bool
    language: str
    customer: CustomerOut
    address: AddressOut
    meter: MeterOut | None
    customer_reference: str
    structured_communication: str | None
    state: str | None = Field(None, description="Prepayment account: pending, active or closed.")
    created_at: datetime
    updated_at: datetime


def _supply_point_out(sp: SupplyPoint) -> dict:
    meter = services.current_meter(sp)
    supplier = services.current_supplier(sp)
    account = getattr(sp, "account", None)
    c = sp.customer
    return {
        "ean": sp.ean,
        "dso": sp.dso_id,
        "energy": sp.energy,
        "supplier": supplier.code if supplier else None,
        "tariff_category": sp.tariff_category,
        "protected": sp.protected,
        "language": c.language,
        "customer": {
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": c.email,
            "phone": c.phone,
        },
        "address": {
            "street": sp.street,
            "number": sp.number,
            "postcode": sp.postcode,
            "city": sp.city,
        },
        "meter": (
            {
                "serial": meter.serial,
                "registers": meter.registers,
                "installed_at": meter.installed_at,
            }
            if meter
            else None
        ),
        "customer_reference": sp.customer_reference,
        "structured_communication": sp.structured_communication,
        "state": account.state if account else None,
        "created_at": sp.created_at,
        "updated_at": sp.updated_at,
    }


@router.put(
    "/supply-points/{ean}",
    auth=scoped("registry"),
    response=responses({200: SupplyPointOut, 201: SupplyPointOut}),
    summary="Create or update a supply point, its customer and its meter",
    description="201 when created (its prepayment account starts pending; its first reading "
    "activates it), 200 when updated. An invalid EAN (length, prefix 54, check digit) → 422. "
    "The DSO and energy of an EAN never change. A supplier change starts today and keeps the "
    "history; a new meter serial is a meter exchange.",
)
def put_supply_point(request: HttpRequest, ean: str, payload: SupplyPointIn):
    try:
        result = _call(services.upsert_supply_point, ean, payload.dict())
    except IntegrityError:
        # Two EANs registered with the same meter serial (or customer reference) at once (one
        # EAN's registrations take turns): the loser rolled back whole, and trying again gives
        # a clear 422 naming what the winner took.
        result = _call(services.upsert_supply_point, ean, payload.dict())
    sp = services.get_supply_point(result.supply_point.ean)
    return Status(201 if result.created else 200, _supply_point_out(sp))


@router.get(
    "/supply-points/{ean}",
    auth=scoped("read"),
    response=responses({200: SupplyPointOut}, 404),
    summary="A supply point as registered",
)
def get_supply_point(request: HttpRequest, ean: str):
    return _supply_point_out(_call(services.get_supply_point, ean))
