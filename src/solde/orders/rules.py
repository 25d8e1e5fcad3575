"""Pure rules for meter orders: retry backoff, lifetimes, supersession, supply from meter state
(RULES.md §9), and whether an interruption may be sent now (§7, with credit control's window
and winter rules from prepayment/rules.py: one copy of each)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

from solde.prepayment import rules as policy

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


def supersedes(new_kind: str, old_kind: str) -> bool:
    """Whether a new order supersedes a pending one of the same meter (a reconnect supersedes a
    pending disconnect; a newer display replaces the older)."""
    return old_kind in CONTRADICTS.get(new_kind, set())


class GuardSettings(policy.WindowSettings, policy.InterruptionSettings, Protocol):
    """What the send-time check reads of a DSO (a Dso has it all)."""


INTERRUPTIONS = (policy.DISCONNECT, policy.LIMIT_POWER)
SEND, CANCEL, HOLD = "send", "cancel", "hold"


def send_verdict(
    kind: str,
    *,
    balance_cents: int | None,
    limit_cents: int,
    energy: str,
    protected: bool,
    instant: datetime,
    local_day: date,
    dso: GuardSettings,
) -> tuple[str, str]:
    """May this order be sent now (RULES.md §7 "never")? ("send", ""), ("cancel", why) or
    ("hold", why: until the window opens). Only interruptions are checked: never for a balance
    above −limit, never a disconnect for a protected electricity customer, never a gas
    interruption of a protected customer in winter, never outside an allowed window."""
    if kind not in INTERRUPTIONS:
        return SEND, ""
    if balance_cents is None or not policy.is_exhausted(balance_cents, limit_cents):
        return CANCEL, "balance above the emergency credit limit when sent"
    if protected and energy == "electricity" and kind == policy.DISCONNECT:
        return CANCEL, "protected electricity customer: limiter only, never a disconnect"
    if protected and energy == "gas" and policy.in_gas_winter(local_day, dso):
        return CANCEL, "protected gas customer in the winter period"
    if not policy.in_allowed_window(instant, dso):
        return HOLD, "held: outside the allowed interruption window"
    return SEND, ""


def backoff(attempts: int, base_seconds: float = 30, cap_seconds: float = 1800) -> timedelta:
    """Wait before resending an unacknowledged order: base · 2^(attempts−1), capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


def supply_state(relay: str, limiter_amps: int | None) -> str:
    """The account's `supply` from the meter's relay and limiter."""
    if relay in ("disconnected", "ready_for_reconnection"):
        return relay
    return "limited" if limiter_amps else "connected"
