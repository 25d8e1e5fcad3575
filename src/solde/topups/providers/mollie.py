"""Mollie v2 through mollie-api-python (Bancontact, cards). Also drives the fake provider,
which speaks the same HTTP subset, through the client's API endpoint setting."""

from __future__ import annotations

from mollie.api.client import Client
from mollie.api.error import Error, NotFoundError, RequestError, ResponseError
from mollie.api.objects.payment import Payment
from mollie.api.resources.refunds import PaymentRefunds

from solde.money import format_eur, parse_eur
from solde.topups.providers.base import (
    ProviderError,
    ProviderPayment,
    ProviderUnavailable,
    UnknownPayment,
)

METHODS = {"bancontact": "bancontact", "card": "creditcard", "creditcard": "creditcard"}


def _cents(amount: dict | None) -> int:
    if not amount:
        return 0
    return parse_eur(amount["value"])


def _amount(cents: int) -> dict:
    return {"currency": "EUR", "value": format_eur(cents)}


class MollieProvider:
    def __init__(self, api_key: str, endpoint: str = "", name: str = "mollie", timeout=(2, 10)):
        self.name = name
        # No connect retries: a webhook answers 503 and the provider or reconciliation retries.
        self.client = Client(api_endpoint=endpoint, timeout=timeout, retry=0)
        if not api_key:
            raise ProviderError("Set SOLDE_MOLLIE_API_KEY to take online payments with Mollie.")
        self.client.set_api_key(api_key)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotFoundError as exc:
            raise UnknownPayment(str(exc)) from exc
        except RequestError as exc:
            raise ProviderUnavailable(f"The payment provider cannot be reached: {exc}") from exc
        except ResponseError as exc:
            if (exc.status or 500) >= 500:
                raise ProviderUnavailable(f"The payment provider failed: {exc}") from exc
            raise ProviderError(str(exc)) from exc
        except Error as exc:  # undecodable answers (a proxy's 502 page…)
            raise ProviderUnavailable(f"The payment provider answered badly: {exc}") from exc

    @staticmethod
    def _payment(p: Payment) -> ProviderPayment:
        links = p._get_property("_links") or {}
        return ProviderPayment(
            id=p.id,
            status=p.status,
            amount_cents=_cents(p.amount),
            checkout_url=(links.get("checkout") or {}).get("href", ""),
            method=p.method or "",
            customer_id=p._get_property("customerId") or "",
            refunded_cents=_cents(p.amount_refunded),
            charged_back_cents=_cents(p.amount_chargedback),
            metadata=p.metadata or {},
        )

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
    ) -> ProviderPayment:
        data: dict = {
            "amount": _amount(amount_cents),
            "description": description,
            "redirectUrl": redirect_url,
            "webhookUrl": webhook_url,
            "metadata": metadata or {},
        }
        if method:
            data["method"] = METHODS.get(method, method)
        if customer_id:
            # "Remember my bank details": the first payment creates a mandate for the customer.
            data["customerId"] = customer_id
            data["sequenceType"] = "first"
        p = self._call(self.client.payments.create, data, idempotency_key=idempotency_key)
        return self._payment(p)

    def get_payment(self, payment_id: str) -> ProviderPayment:
        if not payment_id.startswith("tr_"):
            raise UnknownPayment(f"'{payment_id}' is not a payment id.")
        return self._payment(self._call(self.client.payments.get, payment_id))

    def create_refund(self, payment_id: str, amount_cents: int, description: str) -> str:
        refunds = PaymentRefunds(self.client, Payment({"id": payment_id}, self.client))
        r = self._call(
            refunds.create, {"amount": _amount(amount_cents), "description": description}
        )
        return r.id

    def create_customer(self, name: str, email: str) -> str:
        c = self._call(self.client.customers.create, {"name": name, "email": email})
        return c.id
