"""Limits on attempts, kept in the database so every process shares them.

`take(limit, keys)` records one attempt under each key and says whether every key is still
within its limit. The row is committed before it is counted, so of N concurrent attempts at
most `limit.count` see a count within the limit: no check-then-record race. Call it outside a
transaction (views run in autocommit). A refused attempt stays counted: hammering on a locked
door keeps it locked. `give_back` forgets an attempt that turned out right (a valid code).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from solde import clock
from solde.identifiers import hash_secret


@dataclass(frozen=True)
class Limit:
    scope: str
    count: int
    window: timedelta


@dataclass(frozen=True)
class Taken:
    allowed: bool
    ids: tuple[int, ...]


def _key(limit: Limit, key: str) -> str:
    return hash_secret(f"{limit.scope}:{key}")


def take(limit: Limit, keys: Iterable[str]) -> Taken:
    from solde.models import Attempt

    now = clock.now()
    hashed = sorted({_key(limit, k) for k in keys if k})
    rows = Attempt.objects.bulk_create([Attempt(scope=limit.scope, key=h, at=now) for h in hashed])
    since = now - limit.window
    allowed = all(
        Attempt.objects.filter(scope=limit.scope, key=h, at__gt=since).count() <= limit.count
        for h in hashed
    )
    # Attempts matter only within the window: keep the table small.
    Attempt.objects.filter(scope=limit.scope, key__in=hashed, at__lt=now - limit.window).delete()
    return Taken(allowed, tuple(r.pk for r in rows if r.pk is not None))


def give_back(taken: Taken) -> None:
    from solde.models import Attempt

    Attempt.objects.filter(pk__in=taken.ids).delete()


def blocked(limit: Limit, keys: Iterable[str]) -> bool:
    """Is any key already at its limit? (To show a locked page without counting a visit.)"""
    from solde.models import Attempt

    since = clock.now() - limit.window
    return any(
        Attempt.objects.filter(scope=limit.scope, key=_key(limit, k), at__gt=since).count()
        >= limit.count
        for k in keys
        if k
    )
