"""Durable internal work (solde.work): written with its cause, done once, failures kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from solde import clock, faults, work
from solde.models import WorkItem

pytestmark = pytest.mark.django_db

KIND = "test.kind"


@pytest.fixture
def calls(monkeypatch):
    """A handler for KIND that records its payloads; `calls.fail` makes it raise."""
    got: list[list[dict]] = []

    def handle(payloads: list[dict]) -> None:
        if getattr(handle, "fail", None):
            raise RuntimeError(handle.fail)
        # An effect in the handler's transaction: rolled back with it on failure.
        WorkItem.objects.create(
            kind="test.effect",
            key=f"effect:{len(got)}:{payloads[0]['n']}",
            group="effects",
            payload={},
            next_attempt_at=clock.now() + timedelta(days=999),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        got.append(payloads)

    monkeypatch.setitem(work.HANDLERS, KIND, handle)
    handle.got = got  # type: ignore[attr-defined]
    return handle


def effects() -> int:
    return WorkItem.objects.filter(kind="test.effect").count()


def test_the_same_cause_enqueued_twice_is_one_item(frozen, calls):
    work.enqueue(KIND, "cause:1", {"n": 1})
    work.enqueue(KIND, "cause:1", {"n": 2})
    assert WorkItem.objects.filter(kind=KIND).count() == 1
    assert work.drain([KIND]).done == 1
    assert calls.got == [[{"n": 1}]]
    assert work.drain([KIND]).done == 0  # done once


def test_work_rolled_back_with_its_cause_never_runs(frozen, calls):
    with pytest.raises(RuntimeError), transaction.atomic():
        work.enqueue(KIND, "cause:1", {"n": 1})
        raise RuntimeError("the cause failed")
    assert work.drain([KIND]).done == 0 and calls.got == []


def test_a_group_is_handled_in_one_call(frozen, calls):
    for n in (1, 2, 3):
        work.enqueue(KIND, f"cause:{n}", {"n": n}, group="day:1")
    work.enqueue(KIND, "cause:4", {"n": 4}, group="day:2")
    assert work.drain([KIND]).done == 4
    assert sorted(len(c) for c in calls.got) == [1, 3]


def test_a_delayed_item_waits_unless_drained_eagerly(frozen, calls):
    work.enqueue(KIND, "cause:1", {"n": 1}, delay=timedelta(minutes=5))
    assert work.drain([KIND]).done == 0
    assert work.drain([KIND], eager=True).done == 1


def test_a_failure_is_kept_with_its_traceback_retried_with_backoff_then_dead(
    frozen, calls, settings
):
    settings.WORK_MAX_ATTEMPTS = 3
    work.enqueue(KIND, "cause:1", {"n": 1})
    calls.fail = "head-end unreachable"
    result = work.drain([KIND])
    assert (result.done, result.failed, result.dead) == (0, 1, 0)
    item = WorkItem.objects.get(kind=KIND)
    assert item.status == "pending" and item.attempts == 1
    assert "RuntimeError: head-end unreachable" in item.last_error
    assert item.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert effects() == 0  # the handler's own writes went with its transaction
    # Not due again before the backoff, even eagerly.
    assert work.drain([KIND], eager=True).failed == 0
    clock.advance(timedelta(seconds=30))
    assert work.drain([KIND]).failed == 1
    item.refresh_from_db()
    assert item.attempts == 2 and item.next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=60))
    assert work.drain([KIND]).dead == 1
    item.refresh_from_db()
    assert item.status == "dead"
    clock.advance(timedelta(days=1))
    assert work.drain([KIND]).failed == 0  # dead: left for an operator
    # The operator fixes the cause and retries.
    calls.fail = None
    assert work.retry([item.pk]) == 1
    assert work.drain([KIND]).done == 1
    item.refresh_from_db()
    assert item.status == "done" and item.last_error == "" and effects() == 1


def test_work_of_an_unknown_kind_fails_visibly(frozen):
    work.enqueue("nobody.handles.this", "cause:1", {})
    assert work.drain().failed == 1
    assert "no handler registered" in WorkItem.objects.get().last_error


def test_an_injected_crash_is_not_recorded_as_a_failure(frozen, calls):
    """A crash (kill -9) records nothing: the item is simply still pending, and runs again."""
    work.enqueue(KIND, "cause:1", {"n": 1})
    with faults.armed("work.after_handler"), pytest.raises(faults.InjectedFault):
        work.drain([KIND])
    item = WorkItem.objects.get(kind=KIND)
    assert (item.status, item.attempts, item.last_error) == ("pending", 0, "")
    assert effects() == 0
    assert work.drain([KIND]).done == 1 and effects() == 1


def test_faults_fire_at_the_nth_pass_once(monkeypatch):
    with faults.armed("here", nth=2):
        faults.point("here")
        with pytest.raises(faults.InjectedFault):
            faults.point("here")
        faults.point("here")  # fired once


def test_faults_armed_by_the_environment(monkeypatch):
    monkeypatch.setattr(faults, "_from_env", False)
    monkeypatch.setenv("SOLDE_FAULTS", "a.b@2,c.d:raise")
    try:
        faults.point("c.d@")  # another name
        with pytest.raises(faults.InjectedFault):
            faults.point("c.d")
        faults.point("a.b")
        with pytest.raises(faults.InjectedFault):
            faults.point("a.b")
    finally:
        faults._ARMED.clear()


def test_the_schedule_drains_the_work(frozen, calls):
    from solde import schedule

    schedule.run_due()
    work.enqueue(KIND, "cause:1", {"n": 1})
    clock.advance(timedelta(minutes=1))
    schedule.run_due()
    assert calls.got == [[{"n": 1}]]


def test_the_admin_lists_failures_and_retries_them(frozen, calls, admin_client):
    work.enqueue(KIND, "cause:1", {"n": 1})
    calls.fail = "boom at the head-end"
    work.drain([KIND])
    item = WorkItem.objects.get(kind=KIND)
    page = admin_client.get("/admin/solde/workitem/?attention=failing").content.decode()
    assert "cause:1" in page and "RuntimeError: boom at the head-end" in page
    detail = admin_client.get(f"/admin/solde/workitem/{item.pk}/change/").content.decode()
    assert "Traceback" in detail
    clock.advance(timedelta(hours=1))
    WorkItem.objects.filter(pk=item.pk).update(
        status="dead", next_attempt_at=clock.now() + timedelta(days=1)
    )
    admin_client.post("/admin/solde/workitem/", {"action": "retry", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.status == "pending" and item.next_attempt_at == clock.now()
    calls.fail = None
    assert work.drain([KIND]).done == 1


def test_solde_work_commands(frozen, calls):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    work.enqueue(KIND, "cause:1", {"n": 1})
    calls.fail = "meter gone"
    with pytest.raises(CommandError, match="1 work item"):
        call_command("work", "drain", stdout=StringIO())
    out = StringIO()
    call_command("work", "failed", stdout=out)
    assert "cause:1" in out.getvalue() and "RuntimeError: meter gone" in out.getvalue()
    calls.fail = None
    clock.advance(timedelta(minutes=1))
    out = StringIO()
    call_command("work", "drain", stdout=out)
    assert "Work done: 1 item(s); failed: 0." in out.getvalue()
