"""The readings around an instant (`readings.indexes.neighbours`): the nearest at-or-before and
at-or-after, whether they lie within the first look's window of the instant or far beyond it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from solde.readings.indexes import WINDOW, Probe, neighbours
from solde.readings.models import Reading
from solde.registry.models import Meter

pytestmark = pytest.mark.django_db

T = datetime(2026, 6, 15, 22, tzinfo=UTC)  # a midnight in Brussels
FAR = WINDOW + timedelta(days=10)


def _meter(make_supply_point, readings: list[tuple[datetime, int]]) -> Meter:
    meter = make_supply_point().meters.get()
    Reading.objects.bulk_create(
        [Reading(meter=meter, register="1.8.1", at=at, value_milli=v) for at, v in readings]
    )
    return meter


@pytest.mark.parametrize(
    "readings, before, after",
    [
        # far on both sides: both found beyond the window
        ([(T - FAR, 100), (T + FAR, 900)], 0, 1),
        # near before, far after (a day's end long waited for): the near one is kept
        ([(T - FAR, 100), (T - timedelta(hours=1), 200), (T + FAR, 900)], 1, 2),
        # nothing before (a stand-in after an activation), the next reading far after
        ([(T + FAR, 900), (T + FAR + timedelta(days=1), 950)], None, 0),
        # far before, nothing after yet
        ([(T - FAR - timedelta(days=1), 50), (T - FAR, 100)], 1, None),
        # a reading on the instant: it is the answer, nothing after is needed
        ([(T - FAR, 100), (T, 500), (T + timedelta(hours=1), 600)], 1, None),
        # near on both sides
        ([(T - timedelta(days=2), 100), (T + timedelta(days=3), 900)], 0, 1),
        # nothing at all
        ([], None, None),
    ],
)
def test_neighbours_are_the_nearest_readings_however_far(
    make_supply_point, readings, before, after
):
    meter = _meter(make_supply_point, readings)
    other = _meter(make_supply_point, [(T - timedelta(hours=2), 7), (T + timedelta(hours=2), 9)])
    found = neighbours(
        [Probe(meter.pk, "1.8.1", T), Probe(other.pk, "1.8.1", T), Probe(meter.pk, "1.8.2", T)]
    )
    assert found[0].before == (None if before is None else readings[before])
    # On the instant, SQLite also returns the reading itself as the one after; never another.
    assert found[0].after in (
        (None if after is None else readings[after]),
        *((readings[before],) if before is not None and readings[before][0] == T else ()),
    )
    # Probes in the same batch keep their own answers; a register without readings has none.
    assert found[1].before == (T - timedelta(hours=2), 7)
    assert found[1].after == (T + timedelta(hours=2), 9)
    assert found[2].before is None and found[2].after is None
