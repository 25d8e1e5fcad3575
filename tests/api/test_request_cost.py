"""What one API request costs, and what it may skip without changing what a caller sees.

The balance is read in one query (the account, its supply point, DSO, ledger accounts, last
ledger instant and forecast window together); a key verified a moment ago is not looked up
again; the pages' middleware (sessions, CSRF, log-in…) is passed by for /api/.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from solde import clock
from solde.api import keys
from solde.api.models import ApiKey
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import balance_view, balance_view_of
from solde.registry.models import Dso
from tests.prepayment.helpers import activated, midnight

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(make_supply_point, make_tariff, frozen):
    """An active account with three closed days: a costly one (10 €), then two at 1 €."""
    make_tariff("0.25", valid_from="2026-01-01")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-25"))
    for day, cents in (("2026-11-25", 1000), ("2026-11-26", 100), ("2026-11-27", 100)):
        DayCharge.objects.create(
            account=acc, day=date.fromisoformat(day), charge_cents=cents, closed_at=clock.now()
        )
    PrepaymentAccount.objects.filter(pk=acc.pk).update(
        last_closed_day=date(2026, 11, 27), waiting_reason="no_data"
    )
    return sp, acc


def _balance(api_call, ean: str) -> dict:
    r = api_call("get", f"/api/v1/supply-points/{ean}/balance")
    assert r.status_code == 200, r.content
    return r.json()


def test_the_balance_is_one_query_once_the_key_is_verified(api, history):
    sp, acc = history
    read = api("read")
    _balance(read, sp.ean)  # verifies the key (and stamps its last use)
    with CaptureQueriesContext(connection) as ctx:
        body = _balance(read, sp.ean)
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
    # (10 € advance + 12 € emergency credit) / mean of the 3 days in the 14-day window (4 €)
    assert body["days_left"] == 5.5
    assert body["balance"] == "10.00" and body["advance_outstanding"] == "10.00"
    assert body["last_closed_day"] == "2026-11-27" and body["waiting_reason"] == "no_data"
    assert body["last_update"] == "2026-11-25T00:00:00+01:00"  # the advance, at activation


def test_the_forecast_window_is_the_dsos_number_of_closed_days(api, history):
    sp, acc = history
    Dso.objects.filter(code=sp.dso_id).update(days_left_history=2)
    # The last two days only (1 € a day): 22 days, the costly 25th left out.
    assert _balance(api("read"), sp.ean)["days_left"] == 22.0
    view = balance_view_of(sp.ean)
    assert view is not None and view.days_left == Decimal("22.0")


def test_the_one_query_read_gives_the_same_view_as_the_account(api, history):
    sp, acc = history
    plain = PrepaymentAccount.objects.select_related(
        "supply_point__dso", "balance_account", "advance_account"
    ).get(pk=acc.pk)
    assert balance_view_of(sp.ean) == balance_view(plain)
    assert balance_view_of("541448899999999999") is None


def test_no_history_and_no_closed_day_give_no_forecast(api, make_supply_point, frozen):
    sp = make_supply_point()
    activated(sp, midnight("2026-11-25"))
    body = _balance(api("read"), sp.ean)
    assert body["days_left"] is None and body["last_closed_day"] is None


def test_a_revoked_key_is_refused_at_once_in_the_process_that_revoked_it(api_key, client, history):
    sp, _ = history
    plaintext = api_key("read")
    path = f"/api/v1/supply-points/{sp.ean}/balance"
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
    key = ApiKey.objects.get(prefix=plaintext.split("_")[1])
    assert keys.revoke_keys([key.pk]) == 1
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 401


def test_another_process_sees_a_revocation_within_the_cache_delay(
    api_key, client, history, settings, monkeypatch
):
    """Revoked elsewhere (another web process, `solde apikey revoke`): this process keeps the
    verified key at most SOLDE_API_KEY_CACHE_SECONDS, then asks the database again."""
    sp, _ = history
    settings.API_KEY_CACHE_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: now[0])
    plaintext = api_key("read")
    path = f"/api/v1/supply-points/{sp.ean}/balance"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get(path, **auth).status_code == 200
    ApiKey.objects.filter(prefix=plaintext.split("_")[1]).update(revoked_at=clock.now())
    now[0] += 4.9
    assert client.get(path, **auth).status_code == 200  # still within the delay
    now[0] += 0.2
    assert client.get(path, **auth).status_code == 401


def test_a_wrong_key_is_never_remembered(api_key, client, history):
    sp, _ = history
    plaintext = api_key("read")
    wrong = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    path = f"/api/v1/supply-points/{sp.ean}/balance"
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(path, HTTP_AUTHORIZATION=f"Bearer {wrong}")
        assert r.status_code == 401
        assert any("api_apikey" in q["sql"] for q in ctx.captured_queries)


def test_without_the_cache_every_request_checks_the_key(api, history, settings):
    sp, _ = history
    settings.API_KEY_CACHE_SECONDS = 0
    read = api("read")
    _balance(read, sp.ean)
    with CaptureQueriesContext(connection) as ctx:
        _balance(read, sp.ean)
    assert [q for q in ctx.captured_queries if "api_apikey" in q["sql"]]


def test_an_api_request_skips_the_pages_middleware_but_keeps_its_headers(api, client, history):
    sp, _ = history
    client.cookies["sessionid"] = "not-a-session"
    r = _balance_response(api("read"), sp.ean)
    assert "sessionid" not in r.cookies  # the session is never touched
    assert "Cookie" not in r.get("Vary", "")
    assert not hasattr(r.wsgi_request, "session") and not hasattr(r.wsgi_request, "user")
    # What applies to every response still does.
    assert r["X-Request-ID"] and r["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r["Content-Security-Policy"]
    assert r["X-Content-Type-Options"] == "nosniff"
    # A page still gets its session, CSRF and log-in.
    page = client.get("/login/")
    assert page.status_code == 200
    assert hasattr(page.wsgi_request, "session") and hasattr(page.wsgi_request, "user")
    assert "csrftoken" in page.cookies


def _balance_response(api_call, ean: str):
    r = api_call("get", f"/api/v1/supply-points/{ean}/balance")
    assert r.status_code == 200, r.content
    return r


@pytest.mark.parametrize("history_days, low", [(14, True), (2, False)])
def test_one_account_and_a_close_sized_batch_refresh_alike(history, history_days, low):
    """refresh_credit_state sums a few accounts' forecast window in SQL (a top-up) and a
    close's thousands in Python: the same window, the same low-credit verdict."""
    from solde.prepayment.services import refresh_credit_state

    sp, acc = history
    Dso.objects.filter(code=sp.dso_id).update(days_left_history=history_days)
    PrepaymentAccount.objects.filter(pk=acc.pk).update(
        low_credit_threshold_cents=0, low_credit_days=10
    )
    verdicts = []
    for ids in ([acc.pk], [acc.pk, *range(10**9, 10**9 + 60)]):  # few, then a batch
        PrepaymentAccount.objects.filter(pk=acc.pk).update(low_credit=not low)
        refresh_credit_state(ids)
        verdicts.append(PrepaymentAccount.objects.get(pk=acc.pk).low_credit)
    assert verdicts == [low, low]
