"""What the platform needs from a payment provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class ProviderError(Exception):
    """The provider refused the request (bad input on our side)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or answered 5xx: try again later."""


class UnknownPayment(ProviderError):
    """The provider has no payment with this id."""


@dataclass
class ProviderPayment:
    id: str
    status: str  # open | pending | authorized | paid | failed | canceled | expired
    amount_cents: int
    checkout_url: str = ""
    method: str = ""
    customer_id: str = ""
    refunded_cents: int = 0
    charged_back_cents: int = 0
    metadata: dict = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def create_payment(
        self,
        *,
        amount_cents: int,
        description: str,
        redirect_url: str,
        webhook_url: str,
        method: str = "",
        metadata: dict | None = None,
        customer_id: str = "",
        idempotency_key: str = "",
    ) -> ProviderPayment: ...

    def get_payment(self, payment_id: str) -> ProviderPayment: ...

    def create_refund(self, payment_id: str, amount_cents: int, description: str) -> str: ...

    def create_customer(self, name: str, email: str) -> str: ...
