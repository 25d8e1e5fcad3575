"""Parallel identical partner POSTs credit once (PostgreSQL row locks + unique key)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from solde.topups.models import Topup
from tests.conftest import at_once, on_postgres
from tests.topups.conftest import balance


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_identical_posts_credit_once(active_sp, partner_api):
    if not on_postgres():
        pytest.skip("race test needs PostgreSQL (the SQLite pass serialises writers)")
    sp = active_sp()
    shop = partner_api()
    # A key whose plaintext the threads can send.
    from solde.api.keys import create_key

    racer, plaintext = create_key("racer", ["topups"])
    old = shop.partner.api_key
    shop.partner.api_key = racer
    shop.partner.save()
    old.delete()
    body = json.dumps(
        {
            "reference": sp.customer_reference,
            "amount": "20.00",
            "channel": "retail",
            "partner_transaction_id": "race-1",
        }
    )
    codes = at_once(
        8,
        lambda _: (
            Client()
            .post(
                "/api/v1/topups",
                data=body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {plaintext}",
            )
            .status_code
        ),
    )
    assert sorted(codes) == [200] * 7 + [201]
    assert Topup.objects.count() == 1
    assert balance(sp) == 3000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_statement_imported_twice_at_once_credits_once(active_sp):
    if not on_postgres():
        pytest.skip("race test needs PostgreSQL (the SQLite pass serialises writers)")
    from solde.topups import bank, camt
    from tests.topups.camt_builder import Entry, statement

    sp = active_sp()
    data = statement(Entry("20.00", ref="RACE-1", ogm=sp.structured_communication))

    def run(_):
        try:
            r = bank.import_statement(data)
            return "already" if r.already_imported else "imported"
        except camt.CamtError:
            return "refused"

    outcomes = at_once(4, run)
    assert outcomes.count("imported") == 1 and len(outcomes) == 4
    assert Topup.objects.count() == 1 and balance(sp) == 3000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_transaction_id_sent_at_once_for_two_customers_credits_one_of_them_once(
    active_sp, partner_api
):
    """The twins lock different accounts, so nothing queues them but the ledger key's unique
    index: the first credits, each other one is a repeat (200) or a conflict (409)."""
    if not on_postgres():
        pytest.skip("race test needs PostgreSQL (the SQLite pass serialises writers)")
    from solde.api.keys import create_key
    from solde.ledger.services import verify

    sps = [active_sp(), active_sp()]
    shop = partner_api()
    racer, plaintext = create_key("racer-2", ["topups"])
    old = shop.partner.api_key
    shop.partner.api_key = racer
    shop.partner.save()
    old.delete()

    def post(i: int) -> tuple[int, int]:
        sp = sps[i % 2]
        r = Client().post(
            "/api/v1/topups",
            data=json.dumps(
                {
                    "reference": sp.customer_reference,
                    "amount": "20.00",
                    "channel": "retail",
                    "partner_transaction_id": "race-2",
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        )
        return i % 2, r.status_code

    answers = at_once(8, post)
    winner = [side for side, code in answers if code == 201]
    assert len(winner) == 1 and len(answers) == 8
    for side, code in answers:
        assert code in (201, 200) if side == winner[0] else code == 409
    assert Topup.objects.count() == 1
    assert sorted(balance(sp) for sp in sps) == [1000, 3000]
    assert verify().ok
