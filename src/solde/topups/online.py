"""Online top-ups through the payment provider (Mollie, or the local fake).

The contract the customer portal calls:
- `start_payment(account, amount_cents, method, return_url, remember=False) -> OnlinePayment`
  (send the payer to `payment.checkout_url`);
- `refresh_payment(payment_id) -> OnlinePayment` (re-fetch from the provider; credit if paid).

The webhook only tells us "look at payment tr_…": we re-fetch it and credit `paid` ones once
(the top-up is keyed on the provider's payment id). `reconcile()` polls payments left open, so a
lost webhook or a crash between the provider's `paid` and our credit never loses a top-up.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from solde import clock
from solde.prepayment.models import PrepaymentAccount
from solde.topups import rules, services
from solde.topups.models import (
    OPEN_PAYMENT_STATUSES,
    Channel,
    OnlinePayment,
    PaymentCustomer,
    ReversalReason,
    WebhookCall,
)
from solde.topups.providers import (
    ProviderError,
    ProviderPayment,
    ProviderUnavailable,
    UnknownPayment,
    get_provider,
)

log = logging.getLogger(__name__)

METHODS = ("bancontact", "card", "creditcard", "")
# How long we keep polling a payment the provider still reports open (Mollie expires them).
RECONCILE_WINDOW = timedelta(days=3)


def webhook_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("topups:webhook")


def start_payment(
    account: PrepaymentAccount,
    amount_cents: int,
    method: str,
    return_url: str,
    remember: bool = False,
) -> OnlinePayment:
    """Create a payment at the provider for a top-up of `amount_cents` (5–250 €).

    Raises a services.TopupError (a ValueError whose text is a sentence for the payer):
    InvalidInput (amount, method), AccountNotOpen, or PaymentUnavailable (the provider cannot
    be reached or refused: nothing is charged, try again).
    """
    try:
        rules.check_amount(Channel.ONLINE, amount_cents)
    except rules.AmountRefused as exc:
        raise services.InvalidInput(str(exc), field="amount") from exc
    if method not in METHODS:
        raise services.InvalidInput(_("Choose Bancontact or a card."), field="method")
    account = PrepaymentAccount.objects.select_related("supply_point__customer").get(pk=account.pk)
    services.open_account_for(account.supply_point)
    provider = get_provider()
    customer_id = _remembered_customer(account, provider) if remember else ""
    now = clock.now()
    payment = OnlinePayment.objects.create(
        account=account,
        provider=provider.name,
        amount_cents=amount_cents,
        method=method,
        return_url=return_url,
        remember=remember,
        provider_customer_id=customer_id,
        created_at=now,
        updated_at=now,
    )
    sp = account.supply_point
    try:
        pp = provider.create_payment(
            amount_cents=amount_cents,
            description=f"Recharge {sp.energy} {sp.customer_reference}",
            redirect_url=return_url,
            webhook_url=webhook_url(),
            method=method,
            metadata={"solde_payment": payment.pk, "ean": sp.ean},
            customer_id=customer_id,
            idempotency_key=f"solde-payment-{payment.pk}",
        )
    except ProviderError as exc:
        payment.status = "failed"
        payment.note = str(exc)[:300]
        payment.updated_at = clock.now()
        payment.save(update_fields=["status", "note", "updated_at"])
        log.warning("payment %s not created at the provider: %s", payment.pk, exc)
        raise services.PaymentUnavailable(
            _(
                "Le paiement en ligne n'est pas disponible pour le moment et rien n'a été "
                "débité : réessayez dans quelques minutes."
            )
        ) from exc
    payment.provider_payment_id = pp.id
    payment.checkout_url = pp.checkout_url
    payment.status = pp.status
    payment.updated_at = clock.now()
    payment.save(update_fields=["provider_payment_id", "checkout_url", "status", "updated_at"])
    return payment


def _remembered_customer(account: PrepaymentAccount, provider) -> str:
    customer = account.supply_point.customer
    row = PaymentCustomer.objects.filter(customer=customer, provider=provider.name).first()
    if row:
        return row.provider_customer_id
    cid = provider.create_customer(f"{customer.first_name} {customer.last_name}", customer.email)
    row, _new = PaymentCustomer.objects.get_or_create(
        customer=customer,
        provider=provider.name,
        defaults={"provider_customer_id": cid, "created_at": clock.now()},
    )
    return row.provider_customer_id


def refresh_payment(payment_id: int | str) -> OnlinePayment:
    """Re-fetch a payment (our id, or the provider's `tr_…`) and credit it once if paid.

    When the provider cannot be reached, returns the payment as we know it (reconciliation
    catches up later). Raises OnlinePayment.DoesNotExist for an id that is not ours."""
    try:
        return fetch_and_apply(payment_id)
    except ProviderError as exc:
        log.warning("payment %s not refreshed: %s", payment_id, exc)
        return _ours(payment_id)


def _ours(payment_id: int | str) -> OnlinePayment:
    if isinstance(payment_id, str) and not payment_id.isdigit():
        return OnlinePayment.objects.get(provider_payment_id=payment_id)
    return OnlinePayment.objects.get(pk=int(payment_id))


def fetch_and_apply(payment_id: int | str) -> OnlinePayment:
    """refresh_payment that raises ProviderError / ProviderUnavailable (webhook, reconcile)."""
    payment = _ours(payment_id)
    if not payment.provider_payment_id:
        return payment
    pp = get_provider().get_payment(payment.provider_payment_id)
    return apply_provider_state(payment.pk, pp)


@transaction.atomic
def apply_provider_state(payment_pk: int, pp: ProviderPayment) -> OnlinePayment:
    """Bring our payment in line with what the provider says (the only source we trust)."""
    payment = OnlinePayment.objects.select_for_update().get(pk=payment_pk)
    now = clock.now()
    payment.last_checked_at = now
    if pp.id != payment.provider_payment_id or pp.amount_cents != payment.amount_cents:
        payment.note = "The provider's payment does not match ours (id or amount): not credited."
        payment.save(update_fields=["last_checked_at", "note"])
        log.error("payment %s: provider data mismatch", payment.pk)
        return payment
    payment.status = pp.status
    payment.updated_at = now
    if pp.status == "paid" and payment.topup_id is None:
        try:
            topup, _created = services.credit_topup(
                payment.account,
                payment.amount_cents,
                channel=Channel.ONLINE,
                external_id=pp.id,
                details={"method": pp.method, "provider": payment.provider},
            )
            payment.topup = topup
            payment.note = ""
        except services.TopupError as exc:
            # Money received is never lost: the payment stays paid-not-credited for an operator.
            payment.note = exc.detail[:300]
    if payment.topup is not None:
        topup = payment.topup
        for reason, seen, now_cents in (
            (ReversalReason.REFUND, payment.refunded_cents, pp.refunded_cents),
            (ReversalReason.CHARGEBACK, payment.charged_back_cents, pp.charged_back_cents),
        ):
            if now_cents > seen:
                # Keyed on the provider's running total: each new refund reversed once.
                services.reverse_topup(
                    topup,
                    min(now_cents - seen, topup.amount_cents - topup.reversed_cents),
                    reason,
                    key=f"{reason}:{pp.id}:{now_cents}",
                    by=payment.provider,
                )
                topup.refresh_from_db()
        payment.refunded_cents = pp.refunded_cents
        payment.charged_back_cents = pp.charged_back_cents
    payment.save()
    return payment


def record_webhook(provider: str, payment_id: str) -> WebhookCall:
    """Inbox: one row per (provider, payment id); repeats only count."""
    now = clock.now()
    with transaction.atomic():
        call, created = WebhookCall.objects.get_or_create(
            provider=provider,
            payment_id=payment_id[:60],
            defaults={"first_received_at": now, "last_received_at": now},
        )
        if not created:
            WebhookCall.objects.filter(pk=call.pk).update(
                calls=F("calls") + 1, last_received_at=now
            )
    return call


def handle_webhook(provider: str, payment_id: str) -> str:
    """'credited' | 'updated' | 'unknown'. Raises ProviderUnavailable (answer 5xx: retry)."""
    payment = OnlinePayment.objects.filter(
        provider=provider, provider_payment_id=payment_id
    ).first()
    if payment is None:
        # Not one of ours: nothing to lose, and storing it would let anyone fill the inbox.
        return "unknown"
    call = record_webhook(provider, payment_id)
    had_topup = payment.topup_id is not None
    try:
        payment = fetch_and_apply(payment.pk)
    except UnknownPayment:
        WebhookCall.objects.filter(pk=call.pk).update(
            handled_at=clock.now(), last_error="The provider does not know this payment."
        )
        return "unknown"
    except ProviderError as exc:
        WebhookCall.objects.filter(pk=call.pk).update(last_error=str(exc)[:1000])
        raise ProviderUnavailable(str(exc)) from exc
    WebhookCall.objects.filter(pk=call.pk).update(handled_at=clock.now(), last_error="")
    return "credited" if payment.topup_id and not had_topup else "updated"


def reconcile() -> dict[str, int]:
    """Poll the provider for payments left open, paid-not-credited ones and webhooks not
    handled (provider down when they came). Safe to run any time: crediting is keyed."""
    now = clock.now()
    since = now - RECONCILE_WINDOW
    ids = set(
        OnlinePayment.objects.filter(provider_payment_id__isnull=False)
        .filter(
            Q(status__in=OPEN_PAYMENT_STATUSES, created_at__gte=since)
            | Q(status="paid", topup__isnull=True)
        )
        .values_list("pk", flat=True)
    )
    pending_calls = list(WebhookCall.objects.filter(handled_at__isnull=True))
    by_provider_id = dict(
        OnlinePayment.objects.filter(
            provider_payment_id__in=[c.payment_id for c in pending_calls]
        ).values_list("provider_payment_id", "pk")
    )
    ids.update(by_provider_id.values())
    # A payment that never reached the provider (crash before its answer) is failed after 1 h.
    OnlinePayment.objects.filter(
        status="created", provider_payment_id__isnull=True, created_at__lt=now - timedelta(hours=1)
    ).update(status="failed", note="Never created at the provider.", updated_at=now)
    out = {"checked": 0, "credited": 0, "errors": 0}
    for pk in sorted(ids):
        before = OnlinePayment.objects.values_list("topup_id", flat=True).get(pk=pk)
        try:
            payment = fetch_and_apply(pk)
        except ProviderError as exc:
            log.warning("reconcile payment %s: %s", pk, exc)
            out["errors"] += 1
            continue
        out["checked"] += 1
        if payment.topup_id and not before:
            out["credited"] += 1
    for call in pending_calls:
        payment_pk = by_provider_id.get(call.payment_id)
        ok = (
            payment_pk is None
            or OnlinePayment.objects.filter(pk=payment_pk, last_checked_at__gte=now).exists()
        )
        if ok:
            WebhookCall.objects.filter(pk=call.pk).update(handled_at=clock.now(), last_error="")
    return out


def refund_payment(payment: OnlinePayment, amount_cents: int, by: str = "") -> OnlinePayment:
    """Refund (part of) a paid payment at the provider, then reverse it on the balance."""
    if payment.status != "paid" or not payment.provider_payment_id:
        raise services.Conflict("Only a paid payment can be refunded.")
    get_provider().create_refund(
        payment.provider_payment_id, amount_cents, f"Refund of top-up {payment.topup_id}"
    )
    return fetch_and_apply(payment.pk)
