"""Named crash points, so tests can stop a process exactly where a `kill -9` could.

`point("close.after_day_commit")` does nothing unless that name is armed: by the environment
(`SOLDE_FAULTS="close.after_day_commit@2:kill,work.after_handler"`: fire at the 2nd pass, and
`kill` = SIGKILL the process instead of raising) or in-process with `armed(...)`. A point fires
once. The raised `InjectedFault` is a BaseException, so no `except Exception` records it as an
ordinary failure: to the code around it, it is a crash.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

_ARMED: dict[str, list] = {}  # name → [passes left before it fires, "raise" | "kill"]
_from_env = False


class InjectedFault(BaseException):
    """A crash injected at a named point (tests only)."""


def _load_env() -> None:
    global _from_env
    _from_env = True
    for part in filter(None, os.environ.get("SOLDE_FAULTS", "").split(",")):
        name, _, action = part.strip().partition(":")
        name, _, nth = name.partition("@")
        _ARMED[name] = [int(nth or 1), action or "raise"]


def point(name: str) -> None:
    if not _from_env:
        _load_env()
    entry = _ARMED.get(name)
    if entry is None:
        return
    entry[0] -= 1
    if entry[0] > 0:
        return
    del _ARMED[name]
    if entry[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(name)


@contextmanager
def armed(name: str, nth: int = 1, action: str = "raise") -> Iterator[None]:
    """Arm `name` for the block (fires at its nth pass)."""
    _ARMED[name] = [nth, action]
    try:
        yield
    finally:
        _ARMED.pop(name, None)
