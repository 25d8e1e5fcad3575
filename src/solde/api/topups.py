"""Top-ups collected by partners: terminals, shops, social services (API.md)."""

from __future__ import annotations

from typing import Literal, NoReturn

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from solde.api.auth import request_key, scoped
from solde.api.errors import ApiError, responses
from solde.api.types import MAX_ID, Money
from solde.money import format_eur
from solde.topups import services
from solde.topups.models import Topup

router = Router(tags=["topups"], auth=scoped("topups"))


class LookupOut(Schema):
    reference: str
    energy: str
    name: str
    postcode: str


class TopupIn(Schema):
    reference: str = Field(
        ..., max_length=40, description="Customer reference or full EAN", examples=["8800000000017"]
    )
    amount: Money = Field(..., description="5.00 to 250.00 € (per channel)")
    channel: Literal["terminal", "retail", "cpas"] = Field(
        ..., description="The partner key's own channel"
    )
    partner_transaction_id: str = Field(..., max_length=64, examples=["shop-42-000981"])


class TopupOut(Schema):
    topup_id: int
    status: str
    balance: str
    amount: str
    channel: str
    partner_transaction_id: str
    reference: str
    credited_at: str
    payer: str = ""


def _raise(exc: services.TopupError) -> NoReturn:
    raise ApiError(exc.status, exc.code, exc.detail, field=exc.field) from exc


def _receipt(topup: Topup, balance_cents: int) -> dict:
    """What a partner prints on the receipt."""
    return {
        "topup_id": topup.pk,
        "status": topup.status,
        "balance": format_eur(balance_cents),
        "amount": format_eur(topup.amount_cents),
        "channel": topup.channel,
        "partner_transaction_id": topup.external_id,
        "reference": topup.supply_point.ean[-13:],
        "credited_at": topup.credited_at.isoformat(),
        "payer": topup.payer,
    }


@router.get(
    "/topups/lookup",
    response=responses({200: LookupOut}, 404, 409),
    summary="Check a customer reference before taking money",
)
def lookup(request: HttpRequest, reference: str):
    """The energy, masked name (`M. D…`) and postcode of a customer reference or EAN."""
    try:
        services.partner_for_key(request_key(request))
        sp = services.find_supply_point(reference)
        services.open_account_for(sp)
    except services.TopupError as exc:
        _raise(exc)
    return {
        "reference": sp.customer_reference,
        "energy": sp.energy,
        "name": sp.customer.masked_name,
        "postcode": sp.postcode,
    }


@router.post(
    "/topups",
    response=responses({200: TopupOut, 201: TopupOut}, 404, 409),
    summary="Record a top-up collected by a partner",
)
def create_topup(request: HttpRequest, payload: TopupIn):
    """Idempotent per (partner key, partner_transaction_id): a repeat returns the first result
    with 200. Amounts outside 5–250 € → 422."""
    try:
        partner = services.partner_for_key(request_key(request))
        result = services.partner_topup(
            partner,
            payload.reference,
            payload.amount,
            payload.channel,
            payload.partner_transaction_id,
        )
    except services.TopupError as exc:
        _raise(exc)
    return Status(201 if result.created else 200, _receipt(result.topup, result.balance_cents))


@router.get(
    "/topups/{topup_id}",
    response=responses({200: TopupOut}, 404, 409),
    summary="A partner's own top-up (receipt reprint)",
)
def get_topup(request: HttpRequest, topup_id: int = Path(..., ge=1, le=MAX_ID)):
    try:
        partner = services.partner_for_key(request_key(request))
    except services.TopupError as exc:
        _raise(exc)
    topup = (
        Topup.objects.filter(pk=topup_id, partner=partner).select_related("supply_point").first()
    )
    if topup is None:
        raise ApiError(404, "not_found", "This partner has no top-up with this id.")
    return Status(200, _receipt(topup, topup.balance_after_cents))


@router.post(
    "/topups/{topup_id}/cancel",
    response=responses({200: TopupOut}, 404, 409),
    summary="Cancel a partner's own top-up within 15 minutes",
)
def cancel_topup(request: HttpRequest, topup_id: int = Path(..., ge=1, le=MAX_ID)):
    """Posts a reversal; cancelling twice returns the same result."""
    try:
        partner = services.partner_for_key(request_key(request))
        topup, balance = services.partner_cancel(partner, topup_id)
    except services.TopupError as exc:
        _raise(exc)
    return Status(200, _receipt(topup, balance))
