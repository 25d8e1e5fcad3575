"""Consumption: daily and monthly kWh and €, day/night split, last year's same period."""

from __future__ import annotations

import json
from datetime import date
from html import unescape

from solde.portal.views import consumption_data


def chart_data(page: str) -> dict:
    start = page.index('<script id="chart-data" type="application/json">')
    body = page[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_no_data_yet_says_when_it_comes(logged, active_sp):
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/consommation/").content.decode())
    assert "dès la première journée complète" in page and "chart.umd.js" not in page


def test_daily_and_monthly_with_last_year(logged, active_sp, day_charges):
    acc = active_sp.account
    day_charges(acc, date(2025, 10, 1), 70, day_kwh="3.0", night_kwh="1.0", cents=150)
    acc.refresh_from_db()
    day_charges(acc, date(2026, 10, 1), 58, day_kwh="4.5", night_kwh="2.5", cents=250)
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/consommation/").content.decode())
    assert "chart.umd.js" in page and "consumption.js" in page
    data = chart_data(page)
    daily = data["daily"]
    assert len(daily["labels"]) == 30 and daily["labels"][-1] == "2026-11-27"
    assert daily["registers"]["1.8.1"][-1] == 4.5 and daily["registers"]["1.8.2"][-1] == 2.5
    assert daily["eur"][-1] == 250
    assert daily["last_year"][-1] == 4.0  # 27/11/2025: 3 + 1 kWh
    monthly = data["monthly"]
    assert monthly["labels"][-1] == "2026-11-01"
    assert monthly["kwh"][-2] == 31 * 7.0 and monthly["ly_kwh"][-2] == 31 * 4.0
    assert monthly["eur"][-1] == 27 * 250
    assert "Jour (heures pleines)" in page and "Nuit (heures creuses)" in page
    # The summary: 30 days × 7 kWh.
    assert "210,0\xa0kWh" in page and "75,00\xa0€" in page


def test_period_choice(active_sp, day_charges):
    day_charges(active_sp.account, date(2026, 11, 1), 27)
    assert len(consumption_data(active_sp, 7)["daily"]["labels"]) == 7
    assert consumption_data(active_sp, 7)["totals"]["cents"] == 7 * 250


def test_gas_consumption(client, frozen, make_supply_point, activate, make_user):
    from solde import clock
    from solde.prepayment.models import DayCharge

    sp = activate(make_supply_point(energy="gas"))
    client.force_login(make_user(sp))
    DayCharge.objects.create(
        account=sp.account,
        day=date(2026, 11, 27),
        kwh={"24.2.3": "31.5"},
        charge_cents=310,
        closed_at=clock.now(),
    )
    sp.account.last_closed_day = date(2026, 11, 27)
    sp.account.save(update_fields=["last_closed_day"])
    page = client.get(f"/espace/ean/{sp.ean}/consommation/").content.decode()
    data = chart_data(page)
    assert list(data["daily"]["registers"]) == ["24.2.3"]
    assert data["daily"]["registers"]["24.2.3"][-1] == 31.5
    assert "31,5\xa0kWh" in page and "Gaz" in page


def test_last_midnight_index_per_register_from_the_daily_indexes(logged, active_sp, day_charges):
    import re

    from solde.readings.models import DailyIndex

    day_charges(active_sp.account, date(2026, 11, 20), 8)
    meter = active_sp.meters.get()
    for day, day_end, night_end in (
        (date(2026, 11, 26), 1200000, 800000),
        (date(2026, 11, 27), 1234567, 805250),
    ):
        DailyIndex.objects.create(
            meter=meter,
            register="1.8.1",
            day=day,
            start_milli=0,
            end_milli=day_end,
            consumption_milli=0,
        )
        DailyIndex.objects.create(
            meter=meter,
            register="1.8.2",
            day=day,
            start_milli=0,
            end_milli=night_end,
            consumption_milli=0,
        )
    page = unescape(logged.get(f"/espace/ean/{active_sp.ean}/consommation/").content.decode())
    section = page[page.index('data-testid="midnight-indexes"') :]
    assert "Index de votre compteur" in section
    # The newest closed midnight (end of 27/11 = 28/11 at 00:00), not the day before.
    assert re.search(r"1\D?234,567\xa0kWh", section) and re.search(r"805,250\xa0kWh", section)
    assert "28/11/2026 00:00" in section
    assert "Jour (heures pleines)" in section and "Nuit (heures creuses)" in section


def test_no_midnight_index_section_before_a_closed_day(logged, active_sp):
    page = logged.get(f"/espace/ean/{active_sp.ean}/consommation/").content.decode()
    assert 'data-testid="midnight-indexes"' not in page
