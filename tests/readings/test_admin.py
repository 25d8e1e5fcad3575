"""Readings and rejected readings in the admin."""

from __future__ import annotations

import re

import pytest

from solde.readings.models import RejectedReading
from solde.readings.services import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def some(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", "1234.5"),
            row(sp, "2026-11-28T08:15:00+01:00", "1"),
            row(sp, "2026-11-28T08:30:00+01:00", "1.23456"),
        ],
        "api:test",
    )
    return sp


def test_readings_list_search_and_filter(admin_client, some):
    url = "/admin/readings/reading/"
    page = admin_client.get(url, {"q": some.meters.get().serial, "register": "1.8.1"})
    assert page.status_code == 200
    assert "1234.500 kWh" in page.content.decode()
    assert "1234.500" not in admin_client.get(url, {"q": "OTHER"}).content.decode()
    assert admin_client.get(url + "add/").status_code == 403


def test_rejected_list_filters_and_sends_reviews_to_the_console(admin_client, some):
    """The admin lists rejected rows read-only; reviewing them (reason, audit, undo) is the
    console's: the admin offers no bulk action that would skip those."""
    url = "/admin/readings/rejectedreading/"
    page = admin_client.get(url, {"reason__exact": "invalid", "reviewed__exact": "0"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "1.23456" in html
    assert 'href="/console/queues/rejected-readings/"' in html
    assert 'name="action"' not in html
    ids = list(RejectedReading.objects.values_list("pk", flat=True))
    admin_client.post(url, {"action": "mark_reviewed", "_selected_action": ids})
    assert set(RejectedReading.objects.values_list("reviewed", flat=True)) == {False}
    detail = admin_client.get(f"{url}{ids[0]}/change/")
    assert detail.status_code == 200  # read-only view
    assert 'name="_save"' not in detail.content.decode()


def test_readings_list_walks_the_unique_index_and_caps_its_count(
    admin_client, some, row, monkeypatch
):
    """No index on id on the partitioned table: the list follows (meter, register, at) newest
    first, links to no detail page, and counts at most CAP rows."""
    from solde.readings.admin import CappedCountPaginator

    url = "/admin/readings/reading/"
    ingest([row(some, "2026-11-28T08:15:00+01:00", "1235.5")], "api:test")
    page = admin_client.get(url, {"q": some.meters.get().serial}).content.decode()
    assert page.index("1234.500 kWh") > page.index("1235.500 kWh")  # 08:15 before 08:00
    assert not re.search(r"/admin/readings/reading/\d+/change/", page)
    monkeypatch.setattr(CappedCountPaginator, "CAP", 1)
    page = admin_client.get(url).content.decode()
    paginator = page[page.index('class="paginator"') :]
    assert "1 reading" in paginator  # two rows stored, counted up to the cap
