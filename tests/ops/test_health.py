"""/healthz, /readyz and `solde status`: each readiness check goes red on its own fault."""

from __future__ import annotations

import io
import socket
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from solde import clock, health
from tests.conftest import require


def statuses(client) -> tuple[int, dict[str, dict]]:
    response = client.get("/readyz")
    body = response.json()
    return response.status_code, {c["name"]: c for c in body["checks"]}


@pytest.fixture
def worker_alive(db):
    """A django-q2 task finished a moment ago: the workers' heartbeat."""
    from django_q.models import Task

    now = timezone.now()
    return Task.objects.create(
        id="t1", name="tick", func="solde.tasks.tick", started=now, stopped=now, success=True
    )


@pytest.fixture
def account(make_supply_point, frozen):
    from solde.prepayment.models import PrepaymentAccount

    sp = make_supply_point()
    PrepaymentAccount.objects.filter(supply_point=sp).update(
        state="active", activation_day=date(2026, 11, 1), activated_at=frozen
    )
    return sp


def closed_through(day: date) -> None:
    from solde.prepayment.models import CloseRun

    now = clock.now()
    CloseRun.objects.create(day=day, ean="", started_at=now, finished_at=now, closed=1)


def test_healthz_answers_without_the_database(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as m:
        m.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_every_check_passes(client, worker_alive, account, frozen):
    closed_through(date(2026, 11, 27))  # 12:00 on the 28th: yesterday's close was due at 07:00
    code, checks = statuses(client)
    assert code == 200, checks
    assert {n: c["status"] for n, c in checks.items()} == {
        "database": "ok",
        "broker": "skipped",  # the in-process head-end has no broker
        "worker": "ok",
        "close": "ok",
        "orders": "ok",
        "messages": "ok",
        "work": "ok",
        "dead_work": "ok",
    }


def test_database_down_is_503_and_the_rest_is_skipped(db, client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server failed")

    with monkeypatch.context() as m:
        m.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
        code, checks = statuses(client)
    assert code == 503
    assert checks["database"]["status"] == "fail"
    assert "connection to server failed" in checks["database"]["detail"]
    assert checks["close"]["status"] == "skipped"


def test_worker_without_a_recent_task_is_red(client, db, account, frozen, worker_alive):
    closed_through(date(2026, 11, 27))
    worker_alive.stopped = timezone.now() - timedelta(minutes=10)
    worker_alive.save()
    code, checks = statuses(client)
    assert code == 503
    assert checks["worker"]["status"] == "fail"
    assert "10 min ago" in checks["worker"]["detail"]


def test_no_worker_ever_is_red(client, db):
    code, checks = statuses(client)
    assert code == 503 and checks["worker"]["status"] == "fail"
    assert "qcluster" in checks["worker"]["detail"]


def test_yesterdays_close_missing_after_its_deadline_is_red(
    client, worker_alive, account, frozen, settings
):
    closed_through(date(2026, 11, 26))  # the 27th was never closed
    code, checks = statuses(client)
    assert code == 503
    assert checks["close"]["status"] == "fail"
    assert "2026-11-27" in checks["close"]["detail"]
    # Before the deadline, the day before yesterday is what must be closed.
    settings.HEALTH_CLOSE_DEADLINE = "13:00"
    code, checks = statuses(client)
    assert checks["close"]["status"] == "ok", checks["close"]


def test_due_close_day_follows_the_local_deadline(at, settings):
    settings.HEALTH_CLOSE_DEADLINE = "07:00"
    assert health.due_close_day(at("2026-11-28 06:59")) == date(2026, 11, 26)
    assert health.due_close_day(at("2026-11-28 07:00")) == date(2026, 11, 27)
    # The night summer time ends: local time still decides.
    assert health.due_close_day(at("2026-10-25 07:30")) == date(2026, 10, 24)


def test_unsent_order_past_its_limit_is_red(client, worker_alive, account, frozen, settings):
    from solde.orders.models import Order

    closed_through(date(2026, 11, 27))
    meter = account.meters.first()
    now = clock.now()
    old = Order.objects.create(
        meter=meter, kind="display_balance", created_at=now - timedelta(minutes=20), updated_at=now
    )
    code, checks = statuses(client)
    assert code == 503 and checks["orders"]["status"] == "fail"
    assert "20 min" in checks["orders"]["detail"]
    # Waiting for an allowed window (due later) is not late.
    old.next_attempt_at = now + timedelta(hours=3)
    old.save()
    code, checks = statuses(client)
    assert code == 200 and checks["orders"]["status"] == "ok", checks


def test_unsent_message_past_its_limit_is_red(client, worker_alive, account, frozen):
    from solde.notifications.models import Event, Message

    closed_through(date(2026, 11, 27))
    now = clock.now()
    event = Event.objects.create(
        kind="low_credit", key="k1", supply_point=account, occurred_at=now, handled_at=now
    )
    Message.objects.create(
        event=event,
        customer=account.customer,
        channel="email",
        recipient="client@example.org",
        language="fr",
        subject="s",
        body="b",
        status="pending",
        created_at=now - timedelta(hours=2),
    )
    code, checks = statuses(client)
    assert code == 503 and checks["messages"]["status"] == "fail"
    assert "2 h" in checks["messages"]["detail"]


def work_item(key: str, due_minutes_ago: float, status: str = "pending", attempts: int = 0):
    from solde.models import WorkItem

    now = clock.now()
    return WorkItem.objects.create(
        kind="credit.decide",
        key=key,
        group=key,
        payload={},
        status=status,
        attempts=attempts,
        next_attempt_at=now - timedelta(minutes=due_minutes_ago),
        created_at=now - timedelta(minutes=max(due_minutes_ago, 0) + 5),
        updated_at=now,
    )


def test_durable_work_due_past_its_limit_is_red(client, worker_alive, account, frozen, settings):
    closed_through(date(2026, 11, 27))
    work_item("recent", due_minutes_ago=2)
    code, checks = statuses(client)
    assert code == 200 and checks["work"]["status"] == "ok", checks["work"]
    assert "2 min" in checks["work"]["detail"]

    late = work_item("late", due_minutes_ago=20)
    code, checks = statuses(client)
    assert code == 503 and checks["work"]["status"] == "fail"
    assert "20 min" in checks["work"]["detail"] and "limit 15 min" in checks["work"]["detail"]
    settings.HEALTH_WORK_MAX_AGE = 30 * 60
    code, checks = statuses(client)
    assert code == 200 and checks["work"]["status"] == "ok"

    # A retry waiting for its backoff, or work delayed on purpose, is not due: not late, even
    # when it was written long ago.
    settings.HEALTH_WORK_MAX_AGE = 900
    late.next_attempt_at = clock.now() + timedelta(minutes=10)
    late.attempts = 3
    late.save()
    code, checks = statuses(client)
    assert code == 200 and checks["work"]["status"] == "ok", checks["work"]
    # Done work is not waiting.
    work_item("done-long-ago", due_minutes_ago=600, status="done")
    assert statuses(client)[0] == 200


def test_work_given_up_is_not_ready_until_retried(client, worker_alive, account, frozen):
    from solde import work
    from solde.models import WorkItem

    closed_through(date(2026, 11, 27))
    dead = work_item("dead-1", due_minutes_ago=1, status="dead", attempts=8)
    work_item("dead-2", due_minutes_ago=1, status="dead", attempts=8)
    code, checks = statuses(client)
    assert code == 503 and checks["dead_work"]["status"] == "fail"
    assert "2 internal work item(s) given up" in checks["dead_work"]["detail"]
    assert "credit.decide 2" in checks["dead_work"]["detail"]
    # A dead item is not "due" work: the lag check does not count it twice.
    assert checks["work"]["status"] == "ok"

    out = io.StringIO()
    with pytest.raises(CommandError, match="Not ready: dead_work"):
        call_command("status", stdout=out)
    assert "given up" in out.getvalue()

    # The operator's retry makes them due again: ready once more (they are young).
    work.retry(WorkItem.objects.filter(status="dead").values_list("pk", flat=True))
    dead.refresh_from_db()
    assert dead.status == "pending"
    code, checks = statuses(client)
    assert code == 200 and checks["dead_work"]["status"] == "ok", checks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_unreachable_is_red(client, db, settings):
    settings.HEADEND_URL = f"mqtt://127.0.0.1:{free_port()}"
    code, checks = statuses(client)
    assert code == 503 and checks["broker"]["status"] == "fail"


@pytest.mark.mqtt
def test_broker_reachable_is_green(db, settings):
    with socket.socket() as s:
        up = s.connect_ex(("127.0.0.1", 1883)) == 0
    require("Mosquitto", up)
    settings.HEADEND_URL = "mqtt://127.0.0.1:1883"
    assert health.check_broker().status == "ok"


def test_a_crashing_check_is_that_checks_failure(client, db, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(health, "CHECKS", [("close", broken), *health.CHECKS[:1]])
    code, checks = statuses(client)
    assert code == 503
    assert checks["close"] == {"name": "close", "status": "fail", "detail": "RuntimeError: boom"}
    assert checks["database"]["status"] == "ok"


def test_solde_status_prints_the_checks_and_fails_with_them(worker_alive, account, frozen):
    out = io.StringIO()
    with pytest.raises(CommandError, match="Not ready: close"):
        call_command("status", stdout=out)  # the 27th is not closed
    for name in ("database", "broker", "worker", "close", "orders", "messages", "work"):
        assert name in out.getvalue()
    assert "2026-11-27" in out.getvalue()
    closed_through(date(2026, 11, 27))
    out = io.StringIO()
    call_command("status", stdout=out)
    assert "Ready." in out.getvalue()
