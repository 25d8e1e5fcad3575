"""Readiness checks: is this installation doing its work? Served as JSON by `/readyz`
(HTTP 503 when one fails) and printed by `solde status`.

Each check answers on its own (one failing never hides another) and cheaply: one indexed
query or one connection each, so a probe every few seconds costs nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from solde import clock

OK, FAIL, SKIPPED = "ok", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | fail | skipped
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check("database", OK, f"{connection.vendor} answers")


def check_broker() -> Check:
    """A fresh MQTT connection to the head-end's broker (not the publisher's: that one
    reconnects on its own and would hide an outage between two sends)."""
    url = settings.HEADEND_URL
    if url == "inprocess":
        return Check("broker", SKIPPED, "in-process head-end (demo): no broker")
    from solde.headend.adapters import make_transport

    transport = make_transport(url=url)
    try:
        up = transport.wait_connected(timeout=3)  # type: ignore[attr-defined]
    finally:
        transport.close()
    host = url.split("@")[-1]  # never show credentials
    if not up:
        return Check("broker", FAIL, f"no MQTT connection to {host} within 3 s")
    return Check("broker", OK, f"MQTT connection to {host}")


def check_worker() -> Check:
    """The django-q2 cluster runs `solde.tasks.tick` every minute and stores each result: the
    newest finished task is the workers' heartbeat (wall-clock time, even in simulation)."""
    from django_q.models import Task

    last = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    limit = settings.HEALTH_WORKER_MAX_AGE
    if last is None:
        return Check("worker", FAIL, "no task has ever finished: is `solde qcluster` running?")
    age = (timezone.now() - last).total_seconds()
    if age > limit:
        return Check("worker", FAIL, f"last task finished {_age(age)} ago (limit {_age(limit)})")
    return Check("worker", OK, f"last task finished {_age(max(age, 0))} ago")


def due_close_day(now: datetime) -> date:
    """The latest day whose close should be finished at `now`: yesterday once today's deadline
    (SOLDE_HEALTH_CLOSE_DEADLINE, local time) has passed, else the day before."""
    hour, minute = (int(p) for p in settings.HEALTH_CLOSE_DEADLINE.split(":"))
    today = clock.local_date(now)
    deadline = clock.local_datetime(today, hour, minute)
    return today - timedelta(days=1 if now >= deadline else 2)


def check_close() -> Check:
    from solde.prepayment.close import last_platform_closed_day
    from solde.prepayment.models import PrepaymentAccount

    due = due_close_day(clock.now())
    last = last_platform_closed_day()
    if last is not None and last >= due:
        return Check("close", OK, f"days closed up to {last}")
    active = PrepaymentAccount.objects.filter(state="active", activation_day__lte=due).exists()
    if not active:
        return Check("close", OK, f"no account to close for {due}")
    return Check(
        "close",
        FAIL,
        f"the close of {due} is not finished (deadline {settings.HEALTH_CLOSE_DEADLINE}); "
        f"last closed day: {last or 'none'}",
    )


def _oldest_due(queryset, now: datetime, limit: int, name: str, what: str) -> Check:
    oldest = (
        queryset.annotate(due=Coalesce(F("next_attempt_at"), F("created_at")))
        .filter(due__lte=now)
        .order_by("due")
        .values_list("due", flat=True)
        .first()
    )
    if oldest is None:
        return Check(name, OK, f"no {what} waiting")
    age = (now - oldest).total_seconds()
    if age > limit:
        return Check(name, FAIL, f"oldest {what} due {_age(age)} ago (limit {_age(limit)})")
    return Check(name, OK, f"oldest {what} due {_age(max(age, 0))} ago")


def check_orders() -> Check:
    """Orders written but not sent past their due time: the dispatcher or the broker is stuck.
    (Orders waiting for an allowed window carry a later next_attempt_at and are not late.)"""
    from solde.orders.models import Order, OrderStatus

    return _oldest_due(
        Order.objects.filter(status=OrderStatus.CREATED),
        clock.now(),
        settings.HEALTH_ORDER_MAX_AGE,
        "orders",
        "unsent order",
    )


def check_messages() -> Check:
    """E-mails and SMS not sent past their due time (night-held SMS are due in the morning)."""
    from solde.notifications.models import Message, MessageStatus

    return _oldest_due(
        Message.objects.filter(status__in=[MessageStatus.PENDING, MessageStatus.HELD]),
        clock.now(),
        settings.HEALTH_MESSAGE_MAX_AGE,
        "messages",
        "unsent message",
    )


def check_work() -> Check:
    """Durable internal work (solde.work) due and not done: the workers are stuck or too slow
    (credit decisions, catch-up closes… wait behind it). Retries waiting for their backoff
    are not due yet and not late."""
    from solde.models import WorkItem, WorkStatus

    return _oldest_due(
        WorkItem.objects.filter(status=WorkStatus.PENDING),
        clock.now(),
        settings.HEALTH_WORK_MAX_AGE,
        "work",
        "internal work item",
    )


def check_dead_work() -> Check:
    """Work given up after its retries is work that will never happen on its own (a credit
    decision, a catch-up close): not ready, like late work, until an operator retries it
    (admin "Tâches internes" → "Relancer") or deals with its cause."""
    from django.db.models import Count

    from solde.models import WorkItem, WorkStatus

    dead = (
        WorkItem.objects.filter(status=WorkStatus.DEAD)
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by("kind")
    )
    counts = {row["kind"]: row["n"] for row in dead}
    if not counts:
        return Check("dead_work", OK, "no internal work given up")
    kinds = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    return Check(
        "dead_work",
        FAIL,
        f"{sum(counts.values())} internal work item(s) given up after their retries "
        f"({kinds}): see `solde work failed`, then retry them in the admin (Tâches internes)",
    )


CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("database", check_database),
    ("broker", check_broker),
    ("worker", check_worker),
    ("close", check_close),
    ("orders", check_orders),
    ("messages", check_messages),
    ("work", check_work),
    ("dead_work", check_dead_work),
]


def run_checks() -> list[Check]:
    """Every check; an exception is that check's failure (with its message), never a crash."""
    results = []
    database_up = True
    for name, check in CHECKS:
        if not database_up and name != "broker":
            results.append(Check(name, SKIPPED, "database unreachable"))
            continue
        try:
            results.append(check())
        except Exception as exc:  # noqa: BLE001 — reported as this check's failure
            results.append(Check(name, FAIL, f"{type(exc).__name__}: {exc}"[:300]))
            if name == "database":
                database_up = False
    return results


def ready(results: list[Check]) -> bool:
    return all(r.status != FAIL for r in results)
