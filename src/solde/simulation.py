"""Driving the simulation clock: moving it runs the scheduled work that fell due in between."""

from __future__ import annotations

from datetime import datetime, timedelta

from solde import clock, schedule


class ClockBackwards(ValueError):
    pass


def move_clock(instant: datetime, speed: float = 1.0) -> int:
    """Move the simulation clock to `instant` (never back) and run the jobs due in between, in
    time order (daily closes, windows, displays). Returns how many job instants ran."""
    current = clock.now()
    if instant < current - timedelta(seconds=1):
        raise ClockBackwards(
            f"now: the clock cannot go back (it is {clock.local(current).isoformat()}); "
            "give a later instant."
        )
    schedule.run_due(until=current)  # every job marked up to the present first
    clock.set_simulated(instant, speed)
    return schedule.run_due(until=instant)
