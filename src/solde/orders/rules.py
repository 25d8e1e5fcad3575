"""Pure rules for meter orders: retry backoff, lifetimes, supersession, supply from meter state
(RULES.md §9). The interruption window and winter rules are credit control's
(prepayment/rules.py); the dispatcher checks them again when it sends."""

from __future__ import annotations

from datetime import timedelta

# How long an order may stay pending before it expires (the operator then sees it).
LIFETIME = {
    "disconnect": timedelta(hours=24),
    "reconnect": timedelta(hours=24),
    "limit_power": timedelta(hours=24),
    "remove_limit": timedelta(hours=24),
    "display_balance": timedelta(hours=12),
    "read_now": timedelta(hours=1),
    "set_payment_mode": timedelta(hours=48),
}

# A newer order supersedes the pending orders it contradicts (RULES.md §9); a newer order of
# the same kind replaces an older one (the meter only needs the latest).
CONTRADICTS: dict[str, set[str]] = {
    "reconnect": {"disconnect", "reconnect"},
    "disconnect": {"reconnect", "disconnect"},
    "limit_power": {"remove_limit", "limit_power"},
    "remove_limit": {"limit_power", "remove_limit"},
    "display_balance": {"display_balance"},
    "set_payment_mode": {"set_payment_mode"},
    "read_now": set(),
}


def backoff(attempts: int, base_seconds: float = 30, cap_seconds: float = 1800) -> timedelta:
    """Wait before resending an unacknowledged order: base · 2^(attempts−1), capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


def supply_state(relay: str, limiter_amps: int | None) -> str:
    """The account's `supply` from the meter's relay and limiter."""
    if relay in ("disconnected", "ready_for_reconnection"):
        return relay
    return "limited" if limiter_amps else "connected"
