"""The portal's history takes any date a person can type without falling over."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_exception_propagation(client):
    client.raise_request_exception = False


@pytest.mark.parametrize(
    "query", ["end=9999-12-31", "start=0001-01-01", "start=0001-01-01&end=9999-12-31"]
)
def test_history_with_extreme_dates_says_which_days_it_takes(logged, active_sp, query):
    r = logged.get(f"/espace/ean/{active_sp.ean}/historique/?{query}")
    assert r.status_code == 200
    assert "Choisissez une date entre le" in r.content.decode()


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=0001-01-01"])
def test_history_csv_with_extreme_dates_is_a_file_not_a_crash(logged, active_sp, query):
    r = logged.get(f"/espace/ean/{active_sp.ean}/historique/?{query}&format=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
