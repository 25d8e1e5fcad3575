"""Ingestion (RULES.md §4): accept, duplicate, or reject with a reason — judged in time order."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from solde import clock
from solde.identifiers import make_ean
from solde.prepayment.models import PrepaymentAccount
from solde.readings.models import Reading, RejectedReading
from solde.readings.services import ingest

pytestmark = pytest.mark.django_db


def reasons(result) -> list[tuple[int, str]]:
    return [(r.index, r.reason) for r in result.rejected]


def stored(sp, register="1.8.1") -> list[tuple[str, int]]:
    return [
        (clock.local(r.at).strftime("%H:%M"), r.value_milli)
        for r in Reading.objects.filter(meter__supply_point=sp, register=register).order_by("at")
    ]


def test_accepted_reading_is_stored_in_thousandths(frozen, make_supply_point, row):
    sp = make_supply_point()
    result = ingest([row(sp, "2026-11-28T08:00:00+01:00", "1234.567")], "test")
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    reading = Reading.objects.get()
    assert reading.value_milli == 1_234_567
    assert reading.at == clock.local_datetime(frozen.date(), 8)
    assert result.supply_point_ids == [sp.pk]


def test_exact_duplicate_is_ignored_and_other_value_is_a_conflict(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T08:00:00+01:00", "100")], "test")
    result = ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", "100.000"),  # same value, other spelling
            row(sp, "2026-11-28T07:00:00Z", "100.5"),  # the same instant in UTC, other value
        ],
        "test",
    )
    assert (result.accepted, result.duplicates) == (0, 1)
    assert reasons(result) == [(1, "conflict")]
    assert "a déjà l'index 100.000 kWh" in result.rejected[0].detail
    assert stored(sp) == [("08:00", 100_000)]


def test_same_key_twice_in_one_batch(frozen, make_supply_point, row):
    sp = make_supply_point()
    result = ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", "100"),
            row(sp, "2026-11-28T08:00:00+01:00", "100"),
            row(sp, "2026-11-28T08:00:00+01:00", "101"),
        ],
        "test",
    )
    assert (result.accepted, result.duplicates) == (1, 1)
    assert reasons(result) == [(2, "conflict")]


def test_reingesting_a_batch_changes_nothing(frozen, make_supply_point, row):
    sp = make_supply_point()
    batch = [
        row(sp, "2026-11-28T08:00:00+01:00", "100"),
        row(sp, "2026-11-28T08:15:00+01:00", "101"),
        row(sp, "2026-11-28T08:30:00+01:00", "99"),  # index_decrease
        row(sp, "2026-11-28T08:45:00+01:00", "1.2345"),  # invalid
    ]
    first = ingest(batch, "test")
    second = ingest(batch, "test")
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates) == (0, 2)
    assert reasons(first) == reasons(second) == [(2, "index_decrease"), (3, "invalid")]
    assert Reading.objects.count() == 2
    # The rejections wait once for review, not once per retry.
    assert RejectedReading.objects.count() == 2


def test_rows_out_of_order_are_judged_in_time_order(frozen, make_supply_point, row):
    sp = make_supply_point()
    result = ingest(
        [
            row(sp, "2026-11-28T09:00:00+01:00", "103"),
            row(sp, "2026-11-28T08:30:00+01:00", "101"),
            row(sp, "2026-11-28T08:45:00+01:00", "102"),
            row(sp, "2026-11-28T08:00:00+01:00", "100"),
        ],
        "test",
    )
    assert (result.accepted, result.rejected) == (4, [])
    assert stored(sp) == [
        ("08:00", 100_000),
        ("08:30", 101_000),
        ("08:45", 102_000),
        ("09:00", 103_000),
    ]


def test_batch_in_arrival_order_would_hide_the_decrease(frozen, make_supply_point, row):
    # In time order 08:00=120 comes first, so the 09:00=100 row is the one that goes down.
    sp = make_supply_point()
    result = ingest(
        [row(sp, "2026-11-28T09:00:00+01:00", "100"), row(sp, "2026-11-28T08:00:00+01:00", "120")],
        "test",
    )
    assert reasons(result) == [(0, "index_decrease")]
    assert stored(sp) == [("08:00", 120_000)]


def test_index_lower_than_an_earlier_one(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T08:00:00+01:00", "100")], "test")
    result = ingest([row(sp, "2026-11-28T09:00:00+01:00", "99.999")], "test")
    assert reasons(result) == [(0, "index_decrease")]
    assert "inférieur à l'index 100.000 kWh" in result.rejected[0].detail


def test_index_higher_than_a_later_one(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T10:00:00+01:00", "200")], "test")
    result = ingest(
        [
            row(sp, "2026-11-28T09:00:00+01:00", "200.001"),
            row(sp, "2026-11-28T09:30:00+01:00", "199"),
        ],
        "test",
    )
    assert reasons(result) == [(0, "index_decrease")]
    assert "supérieur à l'index suivant 200.000 kWh" in result.rejected[0].detail
    assert stored(sp) == [("09:30", 199_000), ("10:00", 200_000)]


def test_late_reading_between_two_known_ones(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest(
        [row(sp, "2026-11-28T08:00:00+01:00", "100"), row(sp, "2026-11-28T10:00:00+01:00", "110")],
        "test",
    )
    result = ingest([row(sp, "2026-11-28T09:00:00+01:00", "105")], "test")
    assert result.accepted == 1
    result = ingest([row(sp, "2026-11-28T09:30:00+01:00", "104")], "test")
    assert reasons(result) == [(0, "index_decrease")]


def test_electricity_jump_above_the_dso_power_limit(frozen, make_supply_point, row):
    # RESA: 60 kW → at most 15 kWh in a quarter-hour.
    sp = make_supply_point()
    result = ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", "100"),
            row(sp, "2026-11-28T08:15:00+01:00", "115.000"),  # exactly 60 kW: plausible
            row(sp, "2026-11-28T08:30:00+01:00", "130.001"),  # 60.004 kW
        ],
        "test",
    )
    assert result.accepted == 2
    assert reasons(result) == [(2, "implausible")]
    assert "60.00 kW" in result.rejected[0].detail


def test_jump_to_a_later_known_index_is_implausible(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T09:00:00+01:00", "200")], "test")
    result = ingest([row(sp, "2026-11-28T08:45:00+01:00", "184.999")], "test")
    assert reasons(result) == [(0, "implausible")]


def test_gas_jump_above_the_dso_flow_limit(frozen, make_supply_point, row):
    sp = make_supply_point(energy="gas")
    result = ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", "500"),
            row(sp, "2026-11-28T09:00:00+01:00", "540"),  # 40 m³/h: the limit itself
            row(sp, "2026-11-28T10:00:00+01:00", "580.5"),
        ],
        "test",
    )
    assert result.accepted == 2
    assert reasons(result) == [(2, "implausible")]
    assert "m³/h" in result.rejected[0].detail


def test_dso_limit_is_a_setting(frozen, make_supply_point, row):
    sp = make_supply_point(dso="ORES")
    sp.dso.max_power_kw = 20
    sp.dso.save()
    result = ingest(
        [row(sp, "2026-11-28T08:00:00+01:00", "100"), row(sp, "2026-11-28T08:15:00+01:00", "106")],
        "test",
    )
    assert reasons(result) == [(1, "implausible")]


@pytest.mark.parametrize(
    ("change", "reason", "in_detail"),
    [
        ({"ean": make_ean("54144880099999999")}, "unknown_ean", "n'est pas un point de fourniture"),
        ({"ean": "5414488"}, "invalid", "18 digits"),
        ({"meter": "NOPE"}, "unknown_meter", "n'est pas un compteur de l'EAN"),
        ({"register": "1.8.9"}, "unknown_register", "n'a pas de registre 1.8.9"),
        ({"unit": "m3"}, "unit_mismatch", "se relève en kWh"),
        ({"at": "2026-11-28T12:15:01+01:00"}, "future", "plus de 15 minutes"),
        ({"at": "2026-11-28T08:00:00"}, "invalid", "n'a pas de décalage"),
        ({"at": "28/11/2026 08:00"}, "invalid", "n'est pas un instant ISO 8601"),
        ({"at": "2026-11-28"}, "invalid", "n'a pas de décalage"),
        ({"value": "1.2345"}, "invalid", "plus de 3 décimales"),
        ({"value": "-1"}, "invalid", "est négative"),
        ({"value": "abc"}, "invalid", "n'est pas un nombre"),
        ({"value": "NaN"}, "invalid", "n'est pas un nombre"),
        ({"value": None}, "invalid", "« value » manque"),
        ({"unit": ""}, "invalid", "« unit » manque"),
        ({"meter": 5437948}, "invalid", "« meter » doit être du texte"),
    ],
)
def test_every_rejection_reason(frozen, make_supply_point, row, change, reason, in_detail):
    sp = make_supply_point()
    bad = {**row(sp, "2026-11-28T08:00:00+01:00", "100"), **change}
    result = ingest([row(sp, "2026-11-28T07:00:00+01:00", "99"), bad], "api:test")
    assert reasons(result) == [(1, reason)]
    assert in_detail in result.rejected[0].detail
    kept = RejectedReading.objects.get()
    assert (kept.reason, kept.row_index, kept.source) == (reason, 1, "api:test")
    assert kept.detail == result.rejected[0].detail
    assert Reading.objects.count() == 1


def test_missing_key_and_non_object_rows_are_invalid(frozen, make_supply_point, row):
    sp = make_supply_point()
    partial = row(sp, "2026-11-28T08:00:00+01:00", "100")
    del partial["at"]
    result = ingest([partial, ["not", "an", "object"]], "test")
    assert reasons(result) == [(0, "invalid"), (1, "invalid")]
    assert "« at » manque" in result.rejected[0].detail


def test_future_is_measured_against_the_platform_clock(frozen, make_supply_point, row):
    sp = make_supply_point()
    ok = row(sp, "2026-11-28T12:15:00+01:00", "100")
    assert ingest([ok], "test").accepted == 1


def test_meter_of_another_supply_point_is_unknown(frozen, make_supply_point, row):
    a, b = make_supply_point(), make_supply_point()
    result = ingest([row(a, "2026-11-28T08:00:00+01:00", "1", meter=b.meters.get().serial)], "t")
    assert reasons(result) == [(0, "unknown_meter")]


def test_units_are_read_leniently_but_must_match(frozen, make_supply_point, row):
    gas = make_supply_point(energy="gas")
    result = ingest(
        [
            row(gas, "2026-11-28T08:00:00+01:00", "1", unit="m³"),
            row(gas, "2026-11-28T09:00:00+01:00", "2", unit="kWh"),
        ],
        "test",
    )
    assert result.accepted == 1
    assert reasons(result) == [(1, "unit_mismatch")]


def test_json_numbers_are_read_exactly(frozen, make_supply_point, row):
    sp = make_supply_point()
    result = ingest(
        [
            row(sp, "2026-11-28T08:00:00+01:00", 1234.567),
            row(sp, "2026-11-28T09:00:00+01:00", 1235),
        ],
        "test",
    )
    assert result.accepted == 2
    assert stored(sp) == [("08:00", 1_234_567), ("09:00", 1_235_000)]


def test_spring_forward_day(make_supply_point, row, at):
    # 29 March 2026 has 23 hours: 01:45+01:00 and 03:00+02:00 are 15 minutes apart.
    sp = make_supply_point()
    with clock.freeze(at("2026-03-30 12:00")):
        start, end = clock.day_bounds(at("2026-03-29 00:00").date())
        rows, t, value = [], start, 1000.0
        while t <= end:
            rows.append(row(sp, clock.local(t).isoformat(), f"{value:.3f}"))
            t += timedelta(minutes=15)
            value += 14.9  # 59.6 kW: plausible only over true quarter-hours
        result = ingest(rows, "test")
    assert (result.accepted, result.rejected) == (93, [])
    assert rows[7]["at"] == "2026-03-29T01:45:00+01:00"
    assert rows[8]["at"] == "2026-03-29T03:00:00+02:00"


def test_fall_back_day_has_two_distinct_half_past_two(make_supply_point, row, at):
    sp = make_supply_point()
    with clock.freeze(at("2026-10-26 12:00")):
        result = ingest(
            [
                row(sp, "2026-10-25T02:30:00+02:00", "10"),
                row(sp, "2026-10-25T02:30:00+01:00", "20"),  # one hour later: 10 kW
                row(sp, "2026-10-25T02:45:00+02:00", "12"),
            ],
            "test",
        )
    assert (result.accepted, result.rejected) == (3, [])
    assert [r.value_milli for r in Reading.objects.order_by("at")] == [10_000, 12_000, 20_000]


def test_first_reading_activates_with_the_advance(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest(
        [row(sp, "2026-11-28T08:15:00+01:00", "101"), row(sp, "2026-11-28T08:00:00+01:00", "100")],
        "test",
    )
    account = PrepaymentAccount.objects.select_related("balance_account").get(supply_point=sp)
    assert account.state == "active"
    assert account.activated_at == clock.local_datetime(frozen.date(), 8)
    assert account.balance_account.balance_cents == 1000  # 10.00 € starting advance


def test_older_reading_later_does_not_move_the_activation(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T08:00:00+01:00", "100")], "test")
    result = ingest([row(sp, "2026-11-27T08:00:00+01:00", "90")], "test")
    assert result.accepted == 1
    account = PrepaymentAccount.objects.select_related("balance_account").get(supply_point=sp)
    assert account.activated_at == clock.local_datetime(frozen.date(), 8)
    assert account.balance_account.balance_cents == 1000


def test_rejected_rows_do_not_activate(frozen, make_supply_point, row):
    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T08:00:00+01:00", "-1")], "test")
    assert PrepaymentAccount.objects.get(supply_point=sp).state == "pending"


def test_accepted_readings_leave_the_catch_up_in_their_transaction_tried_after_commit(
    frozen, make_supply_point, row, django_capture_on_commit_callbacks, monkeypatch
):
    from solde import work
    from solde.models import WorkItem
    from solde.prepayment import tasks
    from solde.prepayment.models import CloseRun

    a, b = make_supply_point(), make_supply_point()
    # The platform closed yesterday already: yesterday's readings complete days to charge.
    CloseRun.objects.create(
        day=date(2026, 11, 27), ean="", started_at=frozen, finished_at=frozen, closed=1
    )
    handled: list[dict] = []
    monkeypatch.setitem(work.HANDLERS, tasks.CATCH_UP, handled.extend)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ingest(
            [
                row(b, "2026-11-27T08:00:00+01:00", "1"),
                row(a, "2026-11-27T08:00:00+01:00", "1"),
                row(a, "2026-11-27T08:00:00+01:00", "-1"),
            ],
            "test",
        )
        # Written with the readings: a crash after the commit cannot lose it.
        item = WorkItem.objects.get(kind=tasks.CATCH_UP)
        assert item.payload == {"supply_points": sorted([a.pk, b.pk])}
        assert handled == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert handled == [{"supply_points": sorted([a.pk, b.pk])}]
    item.refresh_from_db()
    assert item.status == "done"
    with django_capture_on_commit_callbacks(execute=True):
        ingest([row(a, "2026-11-27T08:00:00+01:00", "1")], "test")  # duplicate only
    assert WorkItem.objects.filter(kind=tasks.CATCH_UP).count() == 1


@pytest.mark.parametrize("closed_through", [None, date(2026, 11, 27), date(2026, 11, 26)])
def test_the_catch_up_is_left_only_for_accounts_it_could_charge(
    frozen, make_supply_point, row, django_capture_on_commit_callbacks, closed_through
):
    from solde.models import WorkItem
    from solde.prepayment import tasks
    from solde.prepayment.models import CloseRun

    live, late = make_supply_point(), make_supply_point()
    if closed_through:
        CloseRun.objects.create(
            day=closed_through, ean="", started_at=frozen, finished_at=frozen, closed=1
        )
    ingest([row(live, "2026-11-28T08:00:00+01:00", "1")], "test")  # activated today
    ingest([row(late, "2026-11-27T08:00:00+01:00", "1")], "test")  # activated yesterday
    PrepaymentAccount.objects.filter(supply_point=late).update(last_closed_day=date(2026, 11, 26))
    WorkItem.objects.filter(kind=tasks.CATCH_UP).delete()
    with django_capture_on_commit_callbacks(execute=False):
        ingest(
            [
                row(live, "2026-11-28T09:00:00+01:00", "2"),
                row(late, "2026-11-27T09:00:00+01:00", "2"),
            ],
            "test",
        )
        items = list(WorkItem.objects.filter(kind=tasks.CATCH_UP).values_list("payload", flat=True))
    # Closed through the platform's last day, or activated after it: nothing to charge.
    expected = [late.pk] if closed_through == date(2026, 11, 27) else []
    assert items == ([{"supply_points": expected}] if expected else [])


def test_the_catch_up_is_left_for_every_account_while_a_platform_close_runs(
    frozen, make_supply_point, row, django_capture_on_commit_callbacks
):
    from solde.models import WorkItem
    from solde.prepayment import tasks
    from solde.prepayment.models import CloseRun

    sp = make_supply_point()
    ingest([row(sp, "2026-11-28T08:00:00+01:00", "1")], "test")
    WorkItem.objects.filter(kind=tasks.CATCH_UP).delete()
    # That close may have found the account waiting for the readings this batch commits.
    CloseRun.objects.create(day=date(2026, 11, 27), ean="", started_at=frozen)
    with django_capture_on_commit_callbacks(execute=False):
        ingest([row(sp, "2026-11-28T09:00:00+01:00", "2")], "test")
        item = WorkItem.objects.get(kind=tasks.CATCH_UP)
    assert item.payload == {"supply_points": [sp.pk]}


def test_a_batch_of_active_meters_costs_the_same_queries_for_3_or_30_meters(
    frozen, make_supply_point, row
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    points = [make_supply_point() for _ in range(30)]
    ingest([row(sp, "2026-11-28T00:00:00+01:00", "1") for sp in points], "test")  # activated

    def queries(few: list, hour: int) -> int:
        at = f"2026-11-28T{hour:02}:00:00+01:00"
        batch = [row(sp, at, str(hour + 1)) for sp in few]
        with CaptureQueriesContext(connection) as captured:
            result = ingest(batch, "test")
        assert result.accepted == len(few)
        return len(captured.captured_queries)

    # An account already active costs nothing; the meters are read and locked in one query each.
    assert queries(points[:3], 1) == queries(points, 2) <= 8
    assert set(PrepaymentAccount.objects.values_list("state", flat=True)) == {"active"}


def test_a_batch_costs_a_handful_of_queries(
    frozen, make_supply_point, row, django_assert_max_num_queries
):
    points = [make_supply_point() for _ in range(5)]
    batch = [
        row(sp, clock.local(frozen - timedelta(minutes=15 * i)).isoformat(), str(1000 - i))
        for sp in points
        for i in range(40)
    ] + [row(points[0], "2026-11-28T08:00:00+01:00", "x"), row(points[0], "x", "1", meter="?")]
    # Activation of the five accounts (ledger, events) is most of the count; ingestion itself
    # is a fixed number of queries whatever the batch size.
    with django_assert_max_num_queries(30):
        result = ingest(batch, "test")
    assert result.accepted == 200
    with django_assert_max_num_queries(8):
        again = ingest(batch, "test")
    assert again.duplicates == 200


def test_null_fields_are_checked_on_every_row(frozen, make_supply_point, row):
    # Rows of one meter register are checked once per run: a null meter must not pass for the
    # previous row's meter, nor a first row of nulls for none.
    sp = make_supply_point()
    good = row(sp, "2026-11-28T08:00:00+01:00", "100")
    nulls = {"ean": None, "meter": None, "register": None, "unit": None}
    result = ingest(
        [
            {**good, **nulls},
            good,
            {**good, "meter": None, "at": "2026-11-28T08:15:00+01:00"},
            {**good, "meter": None, "at": "2026-11-28T08:30:00+01:00", "value": "101"},
        ],
        "test",
    )
    assert result.accepted == 1
    assert reasons(result) == [(0, "invalid"), (2, "invalid"), (3, "invalid")]
    assert Reading.objects.count() == 1
