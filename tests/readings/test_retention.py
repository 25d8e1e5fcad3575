"""Raw readings' retention per DSO: the dry run, the real run, the guard, daily figures kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from solde import clock, schedule
from solde.prepayment.models import DayCharge
from solde.readings import partitions, retention, tasks
from solde.readings.models import DailyIndex, Reading
from solde.registry.models import Dso
from tests.conftest import on_postgres

TODAY = date(2026, 11, 28)  # the frozen clock's day
VERY_OLD = datetime(2023, 6, 10, 12, 0, tzinfo=UTC)  # before both cutoffs
OLDISH = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # before RESA's 12 months, within ORES's 36
RECENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def put(meter, start: datetime, count: int) -> None:
    Reading.objects.bulk_create(
        Reading(meter=meter, register=reg, at=start + timedelta(minutes=15 * i), value_milli=i)
        for reg in ("1.8.1", "1.8.2")
        for i in range(count)
    )


def count(meter, month: datetime) -> int:
    lo, hi = partitions.month_bounds(clock.local_date(month).replace(day=1))
    return Reading.objects.filter(meter=meter, at__gte=lo, at__lt=hi).count()


@pytest.fixture
def fleet(frozen, make_supply_point):
    """A RESA meter and an ORES meter with readings in three months; RESA keeps 12 months."""
    Dso.objects.filter(code="RESA").update(raw_readings_retention_months=12)
    partitions.ensure(date(2023, 6, 1), date(2023, 6, 1))
    partitions.ensure(date(2025, 3, 1), date(2025, 3, 1))
    partitions.ensure(date(2026, 11, 1), date(2026, 11, 1))
    resa = make_supply_point(dso="RESA").meters.get()
    ores = make_supply_point(dso="ORES").meters.get()
    for meter in (resa, ores):
        for start in (VERY_OLD, OLDISH, RECENT):
            put(meter, start, 10)
    return resa, ores


def test_cutoff_is_the_first_of_the_month_n_months_back():
    assert retention.cutoff(TODAY, 36) == datetime(2023, 10, 31, 23, 0, tzinfo=UTC)  # 1 Nov local
    assert retention.cutoff(date(2026, 7, 3), 12) == datetime(2025, 6, 30, 22, 0, tzinfo=UTC)


def test_dry_run_lists_per_month_and_dso_and_changes_nothing(fleet):
    resa, ores = fleet
    plan = retention.plan(TODAY)
    got = {(c.month, c.dso): c for c in plan.cuts if c.rows}
    assert set(got) == {
        (date(2023, 6, 1), "RESA"),
        (date(2023, 6, 1), "ORES"),
        (date(2025, 3, 1), "RESA"),
    }
    assert all(c.rows == 20 for c in got.values()) and plan.rows == 60
    assert not plan.blocked
    if on_postgres():
        assert got[(date(2023, 6, 1), "RESA")].action == "drop"  # older than every retention
        assert got[(date(2025, 3, 1), "RESA")].action == "delete"  # ORES keeps that month
        assert all(c.bytes and c.bytes > 0 for c in got.values())
        # The empty months between are dropped with it (the oldest months go together).
        assert {c.month for c in plan.cuts if c.action == "drop"} == {
            date(2023, m, 1) for m in range(6, 11)
        }
    out = StringIO()
    call_command("readings-retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "2023-06" in text and "2025-03" in text and "RESA" in text and "ORES" in text
    assert "dry run" in text and "60" in text
    assert Reading.objects.count() == 120  # nothing went


def test_real_run_drops_what_each_dso_let_go_and_keeps_daily_figures(fleet):
    resa, ores = fleet
    kept = DailyIndex.objects.create(
        meter=resa,
        register="1.8.1",
        day=date(2023, 6, 10),
        start_milli=0,
        end_milli=5000,
        consumption_milli=5000,
    )
    charge = DayCharge.objects.create(
        account=resa.supply_point.account,
        day=date(2023, 6, 10),
        kwh={"1.8.1": "5.000"},
        charge_cents=150,
        closed_at=clock.now(),
    )
    out = StringIO()
    call_command("readings-retention", stdout=out)
    assert "60 raw readings gone" in out.getvalue()
    assert count(resa, VERY_OLD) == 0 and count(ores, VERY_OLD) == 0
    assert count(resa, OLDISH) == 0 and count(ores, OLDISH) == 20  # ORES keeps 36 months
    assert count(resa, RECENT) == 20 and count(ores, RECENT) == 20
    assert DailyIndex.objects.filter(pk=kept.pk).exists()
    assert DayCharge.objects.filter(pk=charge.pk).exists()
    if on_postgres():
        names = {p.name for p in partitions.partitions()}
        assert "readings_reading_y2023m06" not in names  # detached and dropped
        assert "readings_reading_y2025m03" in names  # shared: only RESA's rows deleted
    # A second run has nothing left to do.
    assert retention.plan(TODAY).cuts == []
    out = StringIO()
    call_command("readings-retention", stdout=out)
    assert "Nothing to drop" in out.getvalue()


def test_guard_refuses_while_an_active_account_has_not_closed_its_days(fleet):
    resa, ores = fleet
    account = resa.supply_point.account
    account.state = "active"
    account.activation_day = date(2024, 1, 1)
    account.last_closed_day = date(2025, 3, 31)  # its next day's readings would go
    account.save()
    plan = retention.plan(TODAY)
    assert plan.blocked and resa.supply_point.ean in plan.blocked[0]
    assert "RESA" in plan.blocked[0] and "2025-11-01" in plan.blocked[0]
    with pytest.raises(retention.RetentionBlocked):
        retention.apply(TODAY)
    with pytest.raises(CommandError, match="Nothing dropped.*Close those days"):
        call_command("readings-retention")
    assert Reading.objects.count() == 120  # nothing went, not even ORES's part
    out = StringIO()
    call_command("readings-retention", "--dry-run", stdout=out)
    assert "Blocked" in out.getvalue()
    # Once the account has closed up to yesterday, it runs.
    account.last_closed_day = TODAY - timedelta(days=1)
    account.save()
    assert not retention.plan(TODAY).blocked
    retention.apply(TODAY)
    assert Reading.objects.count() == 60


def test_guard_refuses_for_a_meter_silent_since_the_cutoff(fleet, make_supply_point):
    """Its next close would interpolate from a reading before the cutoff."""
    resa, _ores = fleet
    silent = make_supply_point(dso="RESA")
    put(silent.meters.get(), OLDISH, 4)
    silent.account.state = "active"
    silent.account.activation_day = date(2025, 3, 10)
    silent.account.last_closed_day = TODAY - timedelta(days=1)
    silent.account.save()
    plan = retention.plan(TODAY)
    assert len(plan.blocked) == 1 and silent.ean in plan.blocked[0]
    assert resa.supply_point.ean not in plan.blocked[0]  # pending: nothing to close


def test_a_blocked_retention_job_shows_as_failing_with_the_reason(fleet, frozen):
    resa, _ores = fleet
    account = resa.supply_point.account
    account.state = "active"
    account.activation_day = date(2024, 1, 1)
    account.last_closed_day = date(2025, 3, 31)
    account.save()
    # Up to 04:30 the next day: the retention job (04:00) runs, the close (05:00) not yet.
    schedule.run_due(
        until=frozen + timedelta(hours=16, minutes=30), first_run_lookback=timedelta(hours=17)
    )
    job = {s.job: s for s in schedule.status()}[tasks.RETENTION_JOB]
    assert job.failing and "Close those days" in job.last_error
    assert Reading.objects.count() == 120


def test_retention_job_drops_on_schedule(fleet, frozen):
    schedule.run_due(
        until=frozen + timedelta(hours=16, minutes=30), first_run_lookback=timedelta(hours=17)
    )
    job = {s.job: s for s in schedule.status()}[tasks.RETENTION_JOB]
    assert not job.failing and job.last_success_at is not None
    assert Reading.objects.count() == 60
