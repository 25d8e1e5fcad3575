"""Scheduled notification work: render new events and send what is due, every minute."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from solde.schedule import Job, register


def every_minute(start: datetime, end: datetime) -> list[datetime]:
    """The last whole minute in (start, end]: after a jump of the simulation clock one run
    catches up everything, instead of one per skipped minute."""
    last = end.replace(second=0, microsecond=0)
    return [last] if last > start else []


def _after_commit(fn) -> None:
    # Sending is a side effect: never from inside a caller's open transaction.
    if connection.in_atomic_block:
        transaction.on_commit(fn)
    else:
        fn()


def render_job(at: datetime) -> None:
    from solde.notifications.services import render_events

    render_events()


def send_job(at: datetime) -> None:
    from solde.notifications.services import send_due

    _after_commit(send_due)


RENDER = register(Job("notifications.render", every_minute, render_job))
SEND = register(Job("notifications.send", every_minute, send_job))

__all__ = ["RENDER", "SEND", "every_minute"]
