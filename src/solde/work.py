"""Durable internal work: what one step owes the next, as rows (docs/decisions/0006).

A cause writes its follow-up with `enqueue` in its own transaction (a closed chunk of accounts
→ "decide credit for day D for these accounts"; accepted readings → "catch-up close for these
supply points"), so the follow-up exists exactly when the cause committed. `drain` runs the
registered handler of each due group of items and marks them done in the same transaction as
the handler's effects: a crash anywhere leaves either nothing done (the item is still pending
and runs again) or everything done. A handler that raises has its traceback recorded on the
items, which are retried with backoff and, after `WORK_MAX_ATTEMPTS`, left `dead` for an
operator (admin: "Tâches internes", action "Relancer").

Drained by the schedule's `work.drain` job every minute (django-q2 tick, the demo's loop), by
the close right after each day, and by the readings ingestion right after its commit; tests
call `drain()` themselves.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from solde import clock, faults, schedule
from solde.models import WorkItem, WorkStatus

log = logging.getLogger(__name__)

Handler = Callable[[list[dict]], object]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that does `kind` work: it gets the payloads of one group."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def enqueue(
    kind: str,
    key: str,
    payload: dict,
    *,
    group: str = "",
    delay: timedelta = timedelta(0),
) -> None:
    """Write a work item in the caller's transaction. A key that exists already is left as it
    is: its cause happened once. `delay`: not due before (the close lets a day's chunks gather
    before a worker decides on them as one run)."""
    now = clock.now()
    WorkItem.objects.bulk_create(
        [
            WorkItem(
                kind=kind,
                key=key,
                group=group or key,
                payload=payload,
                next_attempt_at=now + delay,
                created_at=now,
                updated_at=now,
            )
        ],
        ignore_conflicts=True,
    )


@dataclass
class DrainResult:
    done: int = 0  # items handled
    failed: int = 0  # items whose handler raised (retried later, or dead)
    dead: int = 0  # of those, given up until an operator retries


def backoff(attempts: int) -> timedelta:
    """Wait before retrying: base · 2^(attempts−1), capped."""
    base = float(getattr(settings, "WORK_RETRY_BASE_SECONDS", 30))
    cap = float(getattr(settings, "WORK_RETRY_CAP_SECONDS", 3600))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def drain(
    kinds: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    *,
    eager: bool = False,
    rounds: int = 10_000,
) -> DrainResult:
    """Handle the due work, group by group, oldest first, until none is due (at most `rounds`
    groups). `eager`: also items never tried whose delay has not run out (the close finishing
    its own days); retries always wait for their backoff."""
    result = DrainResult()
    base = WorkItem.objects.filter(status=WorkStatus.PENDING)
    if kinds is not None:
        base = base.filter(kind__in=list(kinds))
    if groups is not None:
        base = base.filter(group__in=list(groups))
    busy: set[str] = set()  # groups another worker holds
    for _ in range(rounds):
        now = clock.now()
        due = Q(next_attempt_at__lte=now)
        if eager:
            due |= Q(attempts=0)
        first = (
            base.filter(due)
            .exclude(group__in=busy)
            .order_by("next_attempt_at", "pk")
            .values_list("kind", "group")
            .first()
        )
        if first is None:
            break
        kind, group = first
        handled = _handle(kind, group, base.filter(due, group=group), now)
        if handled is None:
            busy.add(group)
            continue
        ids, error = handled
        if error is None:
            result.done += len(ids)
        else:
            result.failed += len(ids)
            result.dead += _failed(ids, error, now)
    return result


def _handle(kind: str, group: str, items, now: datetime) -> tuple[list[int], str | None] | None:
    """Run one group's handler and mark its items done, in one transaction. None when another
    worker holds the group; else (the items' ids, the traceback or None)."""
    fn = HANDLERS.get(kind)
    claimed: list[tuple[int, dict]] = []
    try:
        with transaction.atomic():
            qs = items.filter(kind=kind).order_by("pk")
            if connection.vendor == "postgresql":
                qs = qs.select_for_update(skip_locked=True)
            claimed = list(qs.values_list("pk", "payload"))
            if not claimed:
                return None
            if fn is None:
                raise LookupError(f"no handler registered for work of kind {kind!r}")
            faults.point("work.before_handler")
            fn([payload for _, payload in claimed])
            faults.point("work.after_handler")
            WorkItem.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
                status=WorkStatus.DONE, done_at=now, updated_at=now, last_error=""
            )
    except Exception:
        error = traceback.format_exc()
        log.error("work %s (%s) failed; it is retried later:\n%s", group, kind, error)
        return [pk for pk, _ in claimed], error
    faults.point("work.after_commit")
    return [pk for pk, _ in claimed], None


def _failed(ids: list[int], error: str, now: datetime) -> int:
    """Record a failure on the items (attempt, backoff, traceback). Returns how many died."""
    limit = int(getattr(settings, "WORK_MAX_ATTEMPTS", 8))
    dead = 0
    with transaction.atomic():
        for item in WorkItem.objects.select_for_update().filter(pk__in=ids):
            item.attempts += 1
            item.next_attempt_at = now + backoff(item.attempts)
            item.last_error = error[-10_000:]
            item.updated_at = now
            if item.attempts >= limit:
                item.status = WorkStatus.DEAD
                dead += 1
                log.error("work %s is dead after %d attempts", item.key, item.attempts)
            item.save(
                update_fields=["attempts", "next_attempt_at", "last_error", "updated_at", "status"]
            )
    return dead


@transaction.atomic
def retry(ids: Iterable[int]) -> int:
    """An operator's retry: the items are due again (failed or dead ones alike)."""
    now = clock.now()
    return (
        WorkItem.objects.filter(pk__in=list(ids))
        .exclude(status=WorkStatus.DONE)
        .update(status=WorkStatus.PENDING, next_attempt_at=now, updated_at=now)
    )


def every_minute(start: datetime, end: datetime) -> list[datetime]:
    last = end.replace(second=0, microsecond=0)
    return [last] if last > start else []


def drain_job(at: datetime) -> DrainResult:
    return drain()


def register_job() -> None:
    """Called from SoldeConfig.ready()."""
    schedule.register(schedule.Job("work.drain", every_minute, drain_job))
