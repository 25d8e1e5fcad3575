"""Online payments against the fake provider, through the real Mollie client."""

from __future__ import annotations

import pytest
import requests
from django.utils import translation

from solde import schedule
from solde.topups import online, services
from solde.topups.models import OnlinePayment, PaymentCustomer, Topup, WebhookCall
from solde.topups.providers import ProviderUnavailable
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db

WEBHOOK = "/topups/webhook/"


def provider_sets(server, payment, status, webhook=False, **extra):
    r = requests.post(
        f"{server.url}/_fake/payments/{payment.provider_payment_id}",
        json={"status": status, "webhook": webhook, **extra},
        timeout=5,
    )
    assert r.status_code == 200


def test_start_payment_gives_a_checkout_page(active_sp, fake_provider):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    assert p.status == "open" and p.amount_cents == 2000
    assert p.provider_payment_id.startswith("tr_")
    page = requests.get(p.checkout_url, timeout=5)
    assert "20.00" in page.text and "paid" in page.text


def test_duplicate_webhooks_credit_once(active_sp, fake_provider, client):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    provider_sets(fake_provider, p, "paid")
    answers = [client.post(WEBHOOK, {"id": p.provider_payment_id}) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert answers[0].content == b"credited"
    assert Topup.objects.filter(channel="online").count() == 1
    assert balance(sp) == 3000
    call = WebhookCall.objects.get()
    assert call.calls == 10 and call.handled_at is not None


def test_webhook_for_an_unknown_payment_changes_nothing(active_sp, fake_provider, client):
    active_sp()
    r = client.post(WEBHOOK, {"id": "tr_doesnotexist"})
    assert r.status_code == 200 and r.content == b"unknown"
    assert not Topup.objects.exists()
    assert client.post(WEBHOOK, {}).status_code == 400


def test_forged_webhook_with_a_status_is_not_trusted(active_sp, fake_provider, client):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "card", "http://portal.test/back")
    r = client.post(WEBHOOK, {"id": p.provider_payment_id, "status": "paid", "amount": "20.00"})
    assert r.status_code == 200
    p.refresh_from_db()
    assert p.status == "open" and p.topup is None
    assert balance(sp) == 1000


def test_provider_down_webhook_answers_503_then_reconciliation_credits(
    active_sp, fake_provider, client
):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    provider_sets(fake_provider, p, "paid")
    fake_provider.down = True
    r = client.post(WEBHOOK, {"id": p.provider_payment_id})
    assert r.status_code == 503
    call = WebhookCall.objects.get()
    assert call.handled_at is None and "provider" in call.last_error.lower()
    assert balance(sp) == 1000
    assert online.reconcile()["errors"] == 1
    fake_provider.down = False
    out = online.reconcile()
    assert out["credited"] == 1
    call.refresh_from_db()
    assert call.handled_at is not None
    assert balance(sp) == 3000
    # the provider's retry of the webhook changes nothing
    assert client.post(WEBHOOK, {"id": p.provider_payment_id}).status_code == 200
    assert online.reconcile()["credited"] == 0
    assert Topup.objects.count() == 1


def test_lost_webhook_after_paid_is_credited_once_by_the_scheduled_job(
    active_sp, fake_provider, frozen
):
    sp = active_sp()
    p = online.start_payment(sp.account, 4500, "bancontact", "http://portal.test/back")
    # The payer paid; our process died before the webhook was handled (never arrives).
    provider_sets(fake_provider, p, "paid")
    assert balance(sp) == 1000
    job = next(j for j in schedule.JOBS if j.name == "topups.reconcile_payments")
    from datetime import timedelta

    due = job.due_between(frozen - timedelta(minutes=10), frozen)
    assert len(due) == 1
    job.run(due[0])
    job.run(due[0])
    assert balance(sp) == 5500
    assert Topup.objects.count() == 1
    assert online.refresh_payment(p.pk).status == "paid"
    assert Topup.objects.count() == 1


@pytest.mark.parametrize("status", ["failed", "canceled", "expired"])
def test_unpaid_outcomes_credit_nothing(active_sp, fake_provider, client, status):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    provider_sets(fake_provider, p, status)
    client.post(WEBHOOK, {"id": p.provider_payment_id})
    p.refresh_from_db()
    assert p.status == status and p.topup is None
    assert balance(sp) == 1000


@pytest.mark.parametrize("cents", [499, 25001, -100])
def test_online_amount_limits(active_sp, fake_provider, cents):
    sp = active_sp()
    with pytest.raises(ValueError, match="comprise entre|doit être positif"):
        online.start_payment(sp.account, cents, "bancontact", "http://portal.test/back")
    assert not OnlinePayment.objects.exists()


def test_refund_and_chargeback_post_reversals(active_sp, fake_provider):
    sp = active_sp()
    p = online.start_payment(sp.account, 5000, "bancontact", "http://portal.test/back")
    provider_sets(fake_provider, p, "paid")
    online.refresh_payment(p.pk)
    online.refund_payment(OnlinePayment.objects.get(pk=p.pk), 1000)
    assert balance(sp) == 1000 + 5000 - 1000
    provider_sets(fake_provider, p, "paid", chargeback="40.00")
    online.refresh_payment(p.pk)
    online.refresh_payment(p.pk)
    topup = Topup.objects.get()
    assert topup.status == "reversed" and topup.reversed_cents == 5000
    assert topup.reversals.count() == 2
    assert balance(sp) == 1000


def test_remember_stores_a_provider_customer(active_sp, fake_provider):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "card", "http://x.test/", remember=True)
    again = online.start_payment(sp.account, 2000, "card", "http://x.test/", remember=True)
    row = PaymentCustomer.objects.get()
    assert row.provider_customer_id.startswith("cst_")
    assert p.provider_customer_id == again.provider_customer_id == row.provider_customer_id
    provider_sets(fake_provider, p, "paid")
    assert fake_provider.mandates[row.provider_customer_id][0]["status"] == "valid"


def test_provider_down_when_starting_tells_the_payer(active_sp, fake_provider):
    sp = active_sp()
    fake_provider.down = True
    with pytest.raises(ValueError, match="rien n'a été débité"):
        online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    # The same refusal in the payer's language when the page is in Dutch or English.
    for language, words in (("nl", "niets aangerekend"), ("en", "nothing was charged")):
        with translation.override(language), pytest.raises(ValueError, match=words):
            online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    assert set(OnlinePayment.objects.values_list("status", flat=True)) == {"failed"}
    assert balance(sp) == 1000


def test_refresh_while_the_provider_is_down_returns_what_we_know(active_sp, fake_provider):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    fake_provider.set_status(p.provider_payment_id, "paid")
    fake_provider.down = True
    assert online.refresh_payment(p.pk).status == "open"
    with pytest.raises(ProviderUnavailable):
        online.fetch_and_apply(p.pk)
    fake_provider.down = False
    assert online.refresh_payment(p.pk).status == "paid"
    assert balance(sp) == 3000


def test_crash_between_paid_and_credit_is_rolled_back_then_reconciled_once(
    active_sp, fake_provider, monkeypatch
):
    sp = active_sp()
    p = online.start_payment(sp.account, 2000, "bancontact", "http://portal.test/back")
    fake_provider.set_status(p.provider_payment_id, "paid")
    real = services.credit_topup

    def crash(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("process killed")

    monkeypatch.setattr(services, "credit_topup", crash)
    with pytest.raises(RuntimeError):
        online.handle_webhook("fake", p.provider_payment_id)
    assert balance(sp) == 1000 and not Topup.objects.exists()  # nothing half-written
    assert WebhookCall.objects.get().handled_at is None
    monkeypatch.setattr(services, "credit_topup", real)
    assert online.reconcile()["credited"] == 1
    assert online.reconcile()["credited"] == 0
    assert balance(sp) == 3000 and Topup.objects.count() == 1
    assert WebhookCall.objects.get().handled_at is not None
