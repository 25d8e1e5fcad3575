"""Entry points for the django-q2 cluster."""

from __future__ import annotations

from solde import schedule


def tick() -> int:
    """Run every scheduled job that fell due (django-q2 calls this every minute)."""
    return schedule.run_due()
