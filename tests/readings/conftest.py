"""Helpers for the readings tests: rows shaped like the API's."""

from __future__ import annotations

import pytest


@pytest.fixture
def row():
    """row(sp, at, value, register=…, unit=…) → a reading dict for supply point `sp`."""

    def make(
        sp,
        at: str,
        value: str,
        register: str | None = None,
        unit: str | None = None,
        meter: str | None = None,
        ean: str | None = None,
    ) -> dict:
        gas = sp.energy == "gas"
        return {
            "ean": ean or sp.ean,
            "meter": meter or sp.meters.order_by("pk").last().serial,
            "register": register or ("24.2.3" if gas else "1.8.1"),
            "at": at,
            "value": value,
            "unit": unit or ("m3" if gas else "kWh"),
        }

    return make
