"""The partner API (API.md): lookup, POST /topups, idempotency, cancel, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from solde import clock
from solde.topups.models import Topup
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db


def body(sp, tx="shop-42-000981", amount="20.00", channel="retail", reference=None):
    return {
        "reference": reference if reference is not None else sp.customer_reference,
        "amount": amount,
        "channel": channel,
        "partner_transaction_id": tx,
    }


def test_lookup_shows_masked_name_energy_and_postcode(active_sp, partner_api):
    sp = active_sp()
    shop = partner_api()
    ref = sp.customer_reference
    spaced = f"{ref[:3]} {ref[3:7]}.{ref[7:10]}-{ref[10:]}"
    r = shop("get", f"/api/v1/topups/lookup?reference={spaced}")
    assert r.status_code == 200, r.content
    assert r.json() == {
        "reference": ref,
        "energy": "electricity",
        "name": "M. D…",
        "postcode": "4000",
    }
    assert shop("get", "/api/v1/topups/lookup?reference=9999999999999").status_code == 404


def test_topup_is_credited_and_a_repeat_returns_the_first_result(active_sp, partner_api):
    sp = active_sp()
    shop = partner_api()
    r = shop("post", "/api/v1/topups", json=body(sp))
    assert r.status_code == 201, r.content
    first = r.json()
    assert first["status"] == "credited" and first["balance"] == "30.00"
    assert first["amount"] == "20.00" and first["reference"] == sp.ean[-13:]
    again = shop("post", "/api/v1/topups", json=body(sp))
    assert again.status_code == 200 and again.json() == first
    assert balance(sp) == 3000
    # the full EAN works too, with dots
    r = shop(
        "post", "/api/v1/topups", json=body(sp, tx="2", reference=sp.ean[:9] + "." + sp.ean[9:])
    )
    assert r.status_code == 201 and r.json()["balance"] == "50.00"


def test_same_id_with_another_amount_is_a_conflict(active_sp, partner_api):
    sp = active_sp()
    shop = partner_api()
    shop("post", "/api/v1/topups", json=body(sp))
    r = shop("post", "/api/v1/topups", json=body(sp, amount="25.00"))
    assert r.status_code == 409
    assert balance(sp) == 3000


def test_another_partner_reusing_the_id_makes_its_own_topup(active_sp, partner_api):
    sp = active_sp()
    shop, other = partner_api("Shop A"), partner_api("Shop B")
    a = shop("post", "/api/v1/topups", json=body(sp, tx="same-1")).json()
    r = other("post", "/api/v1/topups", json=body(sp, tx="same-1", amount="10.00"))
    assert r.status_code == 201
    assert r.json()["topup_id"] != a["topup_id"] and r.json()["amount"] == "10.00"
    assert balance(sp) == 1000 + 2000 + 1000
    # and it cannot cancel the first partner's top-up
    assert other("post", f"/api/v1/topups/{a['topup_id']}/cancel").status_code == 404


@pytest.mark.parametrize("amount", ["4.99", "250.01", "-20.00", "abc", "20.001", "", "1e3", "NaN"])
def test_bad_amounts_are_422_and_write_nothing(active_sp, partner_api, amount):
    sp = active_sp()
    shop = partner_api()
    r = shop("post", "/api/v1/topups", json=body(sp, amount=amount))
    assert r.status_code == 422, r.content
    assert r.json()["field"] == "amount"
    assert not Topup.objects.exists() and balance(sp) == 1000


def test_amount_as_a_json_number_is_422(active_sp, partner_api):
    sp = active_sp()
    r = partner_api()("post", "/api/v1/topups", json={**body(sp), "amount": 20})
    assert r.status_code == 422


def test_limits_are_inclusive(active_sp, partner_api):
    sp = active_sp()
    shop = partner_api()
    assert shop("post", "/api/v1/topups", json=body(sp, tx="a", amount="5.00")).status_code == 201
    assert shop("post", "/api/v1/topups", json=body(sp, tx="b", amount="250")).status_code == 201


def test_unknown_closed_or_pending_ean_is_refused(active_sp, make_supply_point, partner_api):
    shop = partner_api()
    pending = make_supply_point()
    closed = active_sp()
    closed.account.state = "closed"
    closed.account.save()
    unknown = shop("post", "/api/v1/topups", json=body(pending, reference="5414488999999999999"))
    assert unknown.status_code in (404, 422)
    r = shop("post", "/api/v1/topups", json=body(pending, reference="1234567890123"))
    assert r.status_code == 404
    r = shop("post", "/api/v1/topups", json=body(pending, tx="p"))
    assert r.status_code == 409 and "pas encore actif" in r.json()["detail"]
    r = shop("post", "/api/v1/topups", json=body(closed, tx="c"))
    assert r.status_code == 409 and "clôturé" in r.json()["detail"]
    assert shop("get", f"/api/v1/topups/lookup?reference={closed.ean}").status_code == 409
    assert not Topup.objects.exists()


def test_cpas_records_the_social_service_as_payer(active_sp, partner_api):
    sp = active_sp()
    cpas = partner_api("CPAS de Liège", channel="cpas")
    r = cpas("post", "/api/v1/topups", json=body(sp, channel="cpas"))
    assert r.status_code == 201 and r.json()["payer"] == "CPAS de Liège"
    assert Topup.objects.get().payer == "CPAS de Liège"
    r = cpas("post", "/api/v1/topups", json=body(sp, tx="x", channel="retail"))
    assert r.status_code == 422 and r.json()["field"] == "channel"


def test_partner_cancels_within_15_minutes_only(active_sp, partner_api, frozen):
    sp = active_sp()
    shop = partner_api()
    t1 = shop("post", "/api/v1/topups", json=body(sp, tx="1")).json()["topup_id"]
    clock.advance(timedelta(minutes=14))
    r = shop("post", f"/api/v1/topups/{t1}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    assert r.json()["balance"] == "10.00"
    assert shop("post", f"/api/v1/topups/{t1}/cancel").status_code == 200  # idempotent
    assert balance(sp) == 1000
    t2 = shop("post", "/api/v1/topups", json=body(sp, tx="2")).json()["topup_id"]
    clock.advance(timedelta(minutes=16))
    r = shop("post", f"/api/v1/topups/{t2}/cancel")
    assert r.status_code == 409
    assert balance(sp) == 3000


def test_auth(active_sp, api, client):
    sp = active_sp()
    assert (
        client.post("/api/v1/topups", data=body(sp), content_type="application/json").status_code
        == 401
    )
    r = api("read")("post", "/api/v1/topups", json=body(sp))
    assert r.status_code == 403
    # a plain topups key is a partner of its own, but collects nothing until it has a channel
    from solde.api.keys import create_key

    _, plaintext = create_key("no channel", ["topups"])
    r = client.post(
        "/api/v1/topups",
        data=body(sp),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
    )
    assert r.status_code == 403 and "channel" in r.json()["detail"]
    assert not Topup.objects.exists()


def test_same_id_sent_with_another_channel_is_refused_not_a_second_topup(active_sp, partner_api):
    sp = active_sp()
    shop = partner_api()
    assert shop("post", "/api/v1/topups", json=body(sp, tx="k")).status_code == 201
    r = shop("post", "/api/v1/topups", json=body(sp, tx="k", channel="terminal"))
    assert r.status_code == 422 and r.json()["field"] == "channel"
    assert Topup.objects.count() == 1
