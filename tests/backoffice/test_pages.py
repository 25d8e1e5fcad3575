"""The customer's page and timeline, the work queues and the dashboard, as operators read them."""

from __future__ import annotations

import csv
from io import StringIO

import pytest

from solde import clock
from solde.backoffice import services
from solde.notifications.models import Event, Message
from solde.orders.models import Order
from solde.prepayment.models import PrepaymentAccount
from solde.topups.services import credit_topup

from .conftest import top_up

pytestmark = pytest.mark.django_db


def test_the_customer_page_shows_balance_meter_and_timeline(make_account, console, operator):
    acc = make_account(2000)
    sp = acc.supply_point
    credit_topup(acc, 2500, channel="retail", external_id="shop-1")
    services.adjust(operator("agent", "ag"), acc, 300, "adjustment", "Geste commercial")
    c = console("auditor")
    body = c.get(f"/console/customers/{sp.customer_id}/").content.decode()
    assert sp.ean in body and sp.customer_reference in body
    assert "48,00" in body  # 20 + 25 + 3 €
    assert "Recharge Commerce" in body
    assert "Geste commercial" in body and "ag" in body
    # Operators the auditor cannot be: no action buttons.
    assert f"/console/supply-points/{sp.pk}/adjust/" not in body


def test_the_timeline_filters_and_exports_csv(make_account, console):
    acc = make_account(2000)
    sp = acc.supply_point
    top_up(acc, 1000)
    credit_topup(acc, 2500, channel="online", external_id="tr_1")
    c = console("agent")
    url = f"/console/customers/{sp.customer_id}/timeline/"
    frag = c.get(url, {"category": "portal"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Code d&#x27;activation émis" in frag and "Recharge" not in frag
    r = c.get(url, {"category": ["topup", "portal"], "format": "csv"})
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(StringIO(r.content.decode())))
    assert {row["category"] for row in rows} == {"topup", "portal"}
    assert any(row["amount_eur"] == "25.00" for row in rows)


def test_csv_cells_never_start_a_formula(make_account, console, operator):
    acc = make_account(2000)
    services.adjust(operator("agent", "ag"), acc, 100, "adjustment", '=HYPERLINK("x")')
    r = console("agent").get(
        f"/console/customers/{acc.supply_point.customer_id}/timeline/",
        {"category": "operator", "format": "csv"},
    )
    for row in csv.reader(StringIO(r.content.decode())):
        assert not any(cell.startswith("=") for cell in row)


def test_home_counts_each_queue_and_lists_it(make_account, console):
    acc = make_account(2000)
    sp = acc.supply_point
    event = Event.objects.create(
        kind="low_credit", key="k", supply_point=sp, occurred_at=clock.now()
    )
    Message.objects.create(
        event=event,
        customer=sp.customer,
        channel="sms",
        recipient="+32470123456",
        language="fr",
        subject="Crédit bas",
        body="…",
        status="failed",
        error="gateway said no",
        created_at=clock.now(),
    )
    meter = sp.meters.get()
    Order.objects.create(
        meter=meter,
        kind="reconnect",
        status="expired",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    exhausted = make_account(-1300)
    c = console("agent")
    home = c.get("/console/").content.decode()
    assert "Messages non délivrés" in home
    assert c.get("/console/queues/undelivered/").content.decode().count("gateway said no") == 1
    assert sp.ean in c.get("/console/queues/failed-orders/").content.decode()
    planned = c.get("/console/queues/planned-interruptions/").content.decode()
    assert exhausted.supply_point.ean in planned and "coupure" in planned
    assert c.get("/console/queues/nope/").status_code == 404


def test_the_dashboard_counts_states_and_top_ups_and_exports_csv(make_account, console):
    ok = make_account(5000)
    make_account(-500)  # emergency
    make_account(-1300, supply="disconnected")
    credit_topup(ok, 2500, channel="retail", external_id="shop-1")
    PrepaymentAccount.objects.filter(pk=ok.pk).update(low_credit=False)
    c = console("backoffice")
    page = c.get("/console/dashboard/", {"dso": "RESA"})
    assert page.status_code == 200 and "chart-data" in page.content.decode()
    r = c.get("/console/dashboard/", {"dso": "RESA", "format": "csv"})
    text = r.content.decode()
    assert "interrupted,1" in text and "emergency,1" in text and "ok,1" in text
    today = clock.local_date(clock.now()).isoformat()
    day_row = next(line for line in text.splitlines() if line.startswith(today))
    assert "25.00" in day_row


@pytest.mark.parametrize(
    "lang, text",
    [
        ("fr", "Files de travail"),
        ("nl", "Werklijsten"),
        ("de", "Arbeitslisten"),
        ("en", "Work queues"),
    ],
)
def test_the_console_speaks_the_operators_language(console, lang, text):
    c = console("agent")
    body = c.get("/console/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert f'lang="{lang}"' in body and text in body


def test_the_timeline_shows_what_a_balance_display_asked_the_meter_to_show(make_account, console):
    """A balance display has no credit decision of its own: the order's entry says why (the
    rule) and what the meter was asked to show (balance, remaining emergency credit)."""
    from solde.prepayment import credit_control

    acc = make_account(-310)
    credit_control.evaluate([acc.pk], "close")
    r = console("agent").get(
        f"/console/customers/{acc.supply_point.customer_id}/timeline/",
        {"category": ["order", "decision"], "format": "csv"},
    )
    rows = list(csv.DictReader(StringIO(r.content.decode())))
    assert [row["category"] for row in rows] == ["order"]
    assert "§9: daily balance display after the close (close)" in rows[0]["detail"]
    assert "affiché : solde -3.10 €, crédit de secours restant 8.90 €" in rows[0]["detail"]
