"""The daily close (RULES.md §3–§6), end to end against the database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest

from solde import clock, faults
from solde.ledger.models import Transaction
from solde.ledger.services import verify
from solde.notifications.models import Event
from solde.prepayment import close as close_module
from solde.prepayment.close import CloseError, close_day
from solde.prepayment.models import CloseRun, DayCharge, PrepaymentAccount
from solde.prepayment.tasks import catch_up_later
from solde.registry.models import Dso, GasConversionFactor, Meter
from tests.conftest import drain_work
from tests.prepayment.helpers import (
    activated,
    add_readings,
    balance,
    meter_of,
    midnight,
    quarter_hourly,
)

pytestmark = pytest.mark.django_db

D = date.fromisoformat


def daily(meter, register, first_day: str, values: list[int]) -> None:
    """One reading per local midnight from first_day on (values in thousandths)."""
    start = D(first_day)
    add_readings(
        meter,
        register,
        [(clock.day_start(start + timedelta(days=i)), v) for i, v in enumerate(values)],
    )


@pytest.fixture
def electricity(make_supply_point, make_tariff, frozen):
    """An active electricity account from 2026-11-25 00:00 with a 0.25 €/kWh price."""
    make_tariff("0.25", valid_from="2026-01-01")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-25"))
    return sp, acc


def test_a_day_is_charged_its_consumption_at_the_price_in_force(electricity):
    sp, acc = electricity
    m = meter_of(sp)
    daily(m, "1.8.1", "2026-11-25", [1_000_000, 1_006_123, 1_010_000])
    daily(m, "1.8.2", "2026-11-25", [500_000, 502_000, 503_000])
    result = close_day(D("2026-11-26"))
    assert result.closed == 2 and result.waiting_for_data == 0
    days = {d.day: d for d in DayCharge.objects.filter(account=acc)}
    # 25th: 6.123 + 2 kWh × 0.25 = 2.03075 € → 203 c; no recovery on the activation day
    assert days[D("2026-11-25")].charge_cents == 203
    assert days[D("2026-11-25")].recovery_cents == 0
    assert days[D("2026-11-25")].kwh == {"1.8.1": "6.123", "1.8.2": "2.000"}
    # 26th: 3.877 + 1 kWh → 1.21925 € → 122 c, and 1 € of the advance recovered
    assert days[D("2026-11-26")].charge_cents == 122
    assert days[D("2026-11-26")].recovery_cents == 100
    assert balance(sp) == 1000 - 203 - 122 - 100
    charge = Transaction.objects.get(idempotency_key=f"charge:{acc.pk}:2026-11-25")
    assert charge.kind == "charge" and charge.details["kwh"]["1.8.1"] == "6.123"
    acc.refresh_from_db()
    assert acc.last_closed_day == D("2026-11-26") and acc.waiting_reason == ""
    assert verify().ok


def test_closing_again_changes_nothing(electricity):
    sp, acc = electricity
    daily(meter_of(sp), "1.8.1", "2026-11-25", [0, 4000, 8000])
    daily(meter_of(sp), "1.8.2", "2026-11-25", [0, 0, 0])
    close_day(D("2026-11-26"))
    before = (Transaction.objects.count(), DayCharge.objects.count(), balance(sp))
    again = close_day(D("2026-11-26"))
    assert again.closed == 0
    assert (Transaction.objects.count(), DayCharge.objects.count(), balance(sp)) == before


def test_a_day_not_over_cannot_be_closed(electricity):
    with pytest.raises(CloseError, match="not over"):
        close_day(D("2026-11-28"))


def test_day_waits_for_its_midnight_index_then_catches_up_in_date_order(electricity):
    sp, acc = electricity
    m = meter_of(sp)
    daily(m, "1.8.2", "2026-11-25", [0, 0, 0, 0])
    add_readings(m, "1.8.1", [(midnight("2026-11-25"), 0), (midnight("2026-11-26"), 2000)])
    result = close_day(D("2026-11-27"))
    assert result.closed == 1 and result.waiting_for_data == 1
    acc.refresh_from_db()
    assert acc.last_closed_day == D("2026-11-25") and acc.waiting_reason == "no_data"
    # Late data: a reading two days later; the gap is spread over the days in proportion to time.
    add_readings(m, "1.8.1", [(midnight("2026-11-28"), 6000)])
    catch_up_later([sp.pk])  # what ingestion leaves (tests see no commit: drain by hand)
    drain_work()
    acc.refresh_from_db()
    assert acc.last_closed_day == D("2026-11-27")
    charges = list(DayCharge.objects.filter(account=acc).order_by("day"))
    assert [c.day for c in charges] == [D("2026-11-25"), D("2026-11-26"), D("2026-11-27")]
    assert [c.kwh["1.8.1"] for c in charges] == ["2.000", "2.000", "2.000"]
    keys = list(
        Transaction.objects.filter(kind="charge", supply_point=sp)
        .order_by("pk")
        .values_list("day", flat=True)
    )
    assert keys == [D("2026-11-25"), D("2026-11-26"), D("2026-11-27")]


def test_interpolation_across_a_gap_is_exact(electricity):
    sp, acc = electricity
    m = meter_of(sp)
    daily(m, "1.8.2", "2026-11-25", [0, 0])
    # 20:00 the day before and 02:00 after the midnight ending the 25th (6 h, 600 Wh)
    add_readings(
        m,
        "1.8.1",
        [
            (midnight("2026-11-25"), 0),
            (midnight("2026-11-26") - timedelta(hours=4), 1000),
            (midnight("2026-11-26") + timedelta(hours=2), 1600),
        ],
    )
    close_day(D("2026-11-25"))
    assert DayCharge.objects.get(account=acc).kwh["1.8.1"] == "1.400"


def test_no_price_makes_the_day_wait_and_tells_the_operator(
    make_supply_point, make_tariff, frozen, caplog
):
    sp = make_supply_point(category="social")
    make_tariff("0.30", category="average")  # not this category
    acc = activated(sp, midnight("2026-11-26"))
    daily(meter_of(sp), "1.8.1", "2026-11-26", [0, 1000, 2000])
    daily(meter_of(sp), "1.8.2", "2026-11-26", [0, 0, 0])
    result = close_day(D("2026-11-27"))
    assert result.closed == 0 and result.waiting_for_price == 1
    assert "wait for a price" in caplog.text and "social" in caplog.text
    acc.refresh_from_db()
    assert acc.waiting_reason == "no_price" and acc.last_closed_day is None
    assert CloseRun.objects.get().waiting_for_price == 1
    make_tariff("0.10", category="social", valid_from="2026-11-01")
    result = close_day(D("2026-11-27"))
    assert result.closed == 2
    assert [d.charge_cents for d in DayCharge.objects.order_by("day")] == [10, 10]


def test_social_and_average_prices_and_register_specific_price_wins(
    make_supply_point, make_tariff, frozen
):
    make_tariff("0.30", category="average")
    make_tariff("0.20", category="social")
    make_tariff("0.10", category="social", register="1.8.2", valid_from="2025-01-01")
    social, average = make_supply_point(category="social"), make_supply_point(category="average")
    for sp in (social, average):
        activated(sp, midnight("2026-11-27"))
        daily(meter_of(sp), "1.8.1", "2026-11-27", [0, 10_000])
        daily(meter_of(sp), "1.8.2", "2026-11-27", [0, 10_000])
    close_day(D("2026-11-27"))
    by_sp = {d.account.supply_point_id: d.charge_cents for d in DayCharge.objects.all()}
    assert by_sp[social.pk] == 200 + 100  # 1.8.2's own price wins over the newer generic one
    assert by_sp[average.pk] == 300 + 300


def test_tariff_change_on_the_day_prices_with_what_is_in_force_at_its_start(
    make_supply_point, make_tariff, frozen
):
    make_tariff("0.20", valid_from="2026-01-01")
    make_tariff("0.40", valid_from="2026-11-27")
    sp = make_supply_point()
    activated(sp, midnight("2026-11-26"))
    daily(meter_of(sp), "1.8.1", "2026-11-26", [0, 10_000, 20_000])
    daily(meter_of(sp), "1.8.2", "2026-11-26", [0, 0, 0])
    close_day(D("2026-11-27"))
    assert [d.charge_cents for d in DayCharge.objects.order_by("day")] == [200, 400]


def test_gas_is_converted_with_the_factor_in_force(make_supply_point, make_tariff, frozen):
    make_tariff("0.10", energy="gas")
    GasConversionFactor.objects.create(
        dso=Dso.objects.get(code="RESA"), valid_from="2026-11-27", kwh_per_m3=Decimal("11.25")
    )
    sp = make_supply_point(energy="gas")
    acc = activated(sp, midnight("2026-11-26"))
    daily(meter_of(sp), "24.2.3", "2026-11-26", [0, 2_000, 4_000])  # 2 m³ a day
    close_day(D("2026-11-27"))
    days = list(DayCharge.objects.filter(account=acc).order_by("day"))
    assert days[0].kwh == {"24.2.3": "21.000"}  # default 10.5 kWh/m³ before the factor
    assert days[1].kwh == {"24.2.3": "22.500"}
    assert [d.charge_cents for d in days] == [210, 225]
    tx = Transaction.objects.get(kind="charge", day=D("2026-11-27"))
    assert tx.details["m3"] == {"24.2.3": "2.000"} and tx.details["kwh_per_m3"] == "11.25000"


@pytest.mark.parametrize(
    ("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-11-26", 24)]
)
def test_dst_days_charge_their_real_length(make_supply_point, make_tariff, day, hours):
    make_tariff("0.25", valid_from="2020-01-01")
    sp = make_supply_point()
    m = meter_of(sp)
    start, end = clock.day_bounds(D(day))
    with clock.freeze(end + timedelta(days=2)):
        acc = activated(sp, start)
        # 100 Wh every quarter-hour on 1.8.1, a little beyond both midnights
        quarter_hourly(m, "1.8.1", start, end + timedelta(hours=1), 100)
        quarter_hourly(m, "1.8.2", start, end + timedelta(hours=1), 0)
        close_day(D(day))
    dc = DayCharge.objects.get(account=acc)
    assert dc.kwh["1.8.1"] == f"{hours * 4 * 100 / 1000:.3f}"
    assert dc.charge_cents == hours * 10


def test_activation_reading_stands_in_for_the_starting_midnight(
    make_supply_point, make_tariff, frozen, at
):
    make_tariff("1.00")
    sp = make_supply_point()
    first = at("2026-11-26 14:00")
    acc = activated(sp, first)
    m = meter_of(sp)
    add_readings(m, "1.8.1", [(first, 50_000), (midnight("2026-11-27"), 51_000)])
    add_readings(m, "1.8.2", [(first, 7_000), (midnight("2026-11-27"), 7_500)])
    close_day(D("2026-11-26"))
    dc = DayCharge.objects.get(account=acc)
    assert dc.kwh == {"1.8.1": "1.000", "1.8.2": "0.500"} and dc.charge_cents == 150


def test_meter_exchange_mid_day_keeps_consumption_continuous(
    make_supply_point, make_tariff, frozen, at
):
    make_tariff("1.00")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-26"))
    old = meter_of(sp)
    swap = at("2026-11-26 13:00")
    Meter.objects.filter(pk=old.pk).update(removed_at=swap)
    new = Meter.objects.create(
        serial="NEW-1", supply_point=sp, registers=["1.8.1", "1.8.2"], installed_at=swap
    )
    add_readings(old, "1.8.1", [(midnight("2026-11-26"), 90_000), (swap, 93_000)])
    add_readings(old, "1.8.2", [(midnight("2026-11-26"), 10_000), (swap, 10_000)])
    add_readings(new, "1.8.1", [(swap, 0), (midnight("2026-11-27"), 2_500)])
    add_readings(new, "1.8.2", [(swap + timedelta(minutes=15), 0), (midnight("2026-11-27"), 0)])
    close_day(D("2026-11-26"))
    dc = DayCharge.objects.get(account=acc)
    assert dc.kwh == {"1.8.1": "5.500", "1.8.2": "0.000"} and dc.charge_cents == 550


def _flat_account(sp, first_day: str, days: int, milli_per_day: int):
    m = meter_of(sp)
    daily(m, "1.8.1", first_day, [i * milli_per_day for i in range(days + 1)])
    daily(m, "1.8.2", first_day, [0] * (days + 1))


def test_recovery_ends_at_exactly_zero_and_advance_repaid_is_published(
    make_supply_point, make_tariff, frozen
):
    make_tariff("0.10")
    sp = make_supply_point()
    Dso.objects.filter(code="RESA").update(
        advance_electricity_cents=250, advance_recovery_cents_per_day=100
    )
    acc = activated(sp, midnight("2026-11-23"))
    _flat_account(sp, "2026-11-23", 5, 0)
    close_day(D("2026-11-27"))
    recoveries = list(DayCharge.objects.order_by("day").values_list("recovery_cents", flat=True))
    assert recoveries == [0, 100, 100, 50, 0]
    acc.refresh_from_db()
    assert acc.advance_account.balance_cents == 0
    assert Event.objects.filter(kind="advance_repaid", supply_point=sp).count() == 1
    assert balance(sp) == 0


def test_recovery_pauses_while_supply_is_interrupted(make_supply_point, make_tariff, frozen):
    make_tariff("0.10")
    sp = make_supply_point()
    acc = activated(sp, midnight("2026-11-25"))
    _flat_account(sp, "2026-11-25", 3, 0)
    PrepaymentAccount.objects.filter(pk=acc.pk).update(supply="disconnected")
    close_day(D("2026-11-27"))
    assert sum(DayCharge.objects.values_list("recovery_cents", flat=True)) == 0
    assert balance(sp) == 1000


def test_credit_states_after_a_close(make_supply_point, make_tariff, frozen):
    make_tariff("1.00")
    sps = [make_supply_point() for _ in range(3)]
    for sp, kwh in zip(sps, (5_000, 19_000, 25_000), strict=True):  # one day each
        activated(sp, midnight("2026-11-27"))
        _flat_account(sp, "2026-11-27", 1, kwh)
    close_day(D("2026-11-27"))
    states = {
        a.supply_point_id: (a.credit_state, a.low_credit) for a in PrepaymentAccount.objects.all()
    }
    assert states[sps[0].pk] == ("ok", True)  # 5 € left < 10 € threshold
    assert states[sps[1].pk] == ("emergency", True)  # −9 €
    assert states[sps[2].pk] == ("exhausted", True)  # −15 € ≤ −12 €
    kinds = set(Event.objects.values_list("kind", flat=True))
    assert {"low_credit", "emergency_credit_engaged"} <= kinds


def test_the_close_leaves_credit_work_naming_the_closed_accounts_and_does_it(electricity):
    from solde.models import WorkItem
    from solde.orders.models import Order
    from solde.prepayment.models import CreditDecision

    sp, acc = electricity
    _flat_account(sp, "2026-11-25", 1, 1000)
    close_day(D("2026-11-25"))
    item = WorkItem.objects.get(kind="credit.close")
    assert item.payload == {"day": "2026-11-25", "accounts": [acc.pk]}
    assert item.group == "credit.close:2026-11-25"
    assert item.status == "done"  # the close decided at once, after the day's last chunk
    display = Order.objects.get(kind="display_balance")
    assert display.key == f"close:2026-11-25:{acc.pk}:display_balance"
    assert not CreditDecision.objects.filter(account=acc).exists()  # in credit: no verdict


def test_a_crash_mid_run_leaves_whole_days_and_a_rerun_completes(
    make_supply_point, make_tariff, frozen, monkeypatch
):
    make_tariff("0.50")
    sps = [make_supply_point() for _ in range(5)]
    for sp in sps:
        activated(sp, midnight("2026-11-26"))
        _flat_account(sp, "2026-11-26", 2, 2000)
    monkeypatch.setattr(close_module, "CHUNK", 2)
    real = close_module.post_transfers
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    with mock.patch.object(close_module, "post_transfers", crashing), pytest.raises(RuntimeError):
        close_day(D("2026-11-27"))
    # the first chunk (2 accounts, 26th) committed; nothing of the second
    assert DayCharge.objects.count() == 2
    assert verify().ok
    result = close_day(D("2026-11-27"))
    assert result.closed == 8
    assert DayCharge.objects.count() == 10
    for sp in sps:
        assert balance(sp) == 1000 - 100 - 100 - 100
    assert verify().ok


def test_close_for_one_ean_only(make_supply_point, make_tariff, frozen):
    make_tariff("0.50")
    a, b = make_supply_point(), make_supply_point()
    for sp in (a, b):
        activated(sp, midnight("2026-11-27"))
        _flat_account(sp, "2026-11-27", 1, 2000)
    result = close_day(D("2026-11-27"), ean=a.ean)
    assert result.closed == 1
    assert list(DayCharge.objects.values_list("account__supply_point", flat=True)) == [a.pk]
    with pytest.raises(CloseError, match="No prepayment account"):
        close_day(D("2026-11-27"), ean="541448899999999999")


def test_late_readings_before_any_platform_close_do_nothing(electricity):
    sp, acc = electricity
    _flat_account(sp, "2026-11-25", 2, 1000)
    catch_up_later([sp.pk])
    assert drain_work().done == 1  # handled: nothing to charge yet
    assert DayCharge.objects.count() == 0


@pytest.fixture
def readings_mid_run(monkeypatch):
    """`batch` runs once the platform run has closed its days but before it is finished: what
    a batch committing then looks like, its catch-up tried at once (after its commit), while
    the platform's last closed day is still the day before."""
    from solde import work
    from solde.prepayment import tasks

    def arm(batch):
        real = close_module._close_up_to
        calls = []

        def run_then_batch(*args):
            result = real(*args)
            if not calls:  # the platform run's, not the catch-up's
                calls.append(batch)
                batch()
                work.drain([tasks.CATCH_UP])
            return result

        monkeypatch.setattr(close_module, "_close_up_to", run_then_batch)

    return arm


def test_an_account_activated_while_the_platform_close_runs_is_closed_when_it_ends(
    electricity, make_supply_point, readings_mid_run
):
    sp, acc = electricity
    _flat_account(sp, "2026-11-25", 3, 1000)
    late = make_supply_point()  # pending: its meter has not spoken yet when the run lists accounts

    def first_readings():
        activated(late, midnight("2026-11-26"))
        _flat_account(late, "2026-11-26", 2, 1000)
        catch_up_later([late.pk])  # what the batch leaves; nothing to charge before the run ends

    readings_mid_run(first_readings)
    result = close_day(D("2026-11-27"))
    assert result.closed == 3  # the run's own: `acc` for three days
    days = DayCharge.objects.filter(account__supply_point=late).values_list("day", flat=True)
    assert sorted(days) == [D("2026-11-26"), D("2026-11-27")]
    assert PrepaymentAccount.objects.get(supply_point=late).last_closed_day == D("2026-11-27")
    assert verify().ok


def test_a_midnight_index_arriving_while_the_platform_close_runs_is_charged_when_it_ends(
    electricity, readings_mid_run
):
    sp, acc = electricity
    m = meter_of(sp)
    daily(m, "1.8.2", "2026-11-25", [0, 0, 0, 0])
    daily(m, "1.8.1", "2026-11-25", [0, 1000, 2000])  # the 28th's midnight is late

    def midnight_index():
        add_readings(m, "1.8.1", [(midnight("2026-11-28"), 3000)])
        catch_up_later([sp.pk])

    readings_mid_run(midnight_index)
    result = close_day(D("2026-11-27"))
    assert result.waiting_for_data == 1  # what the run itself found
    acc.refresh_from_db()
    assert acc.last_closed_day == D("2026-11-27") and acc.waiting_reason == ""


def test_a_crash_as_the_platform_close_ends_leaves_its_catch_up_to_the_worker(
    electricity, make_supply_point, readings_mid_run
):
    sp, acc = electricity
    _flat_account(sp, "2026-11-25", 3, 1000)
    late = make_supply_point()

    def first_readings():
        activated(late, midnight("2026-11-27"))
        _flat_account(late, "2026-11-27", 1, 1000)
        catch_up_later([late.pk])

    readings_mid_run(first_readings)
    with faults.armed("close.after_finish"), pytest.raises(faults.InjectedFault):
        close_day(D("2026-11-27"))
    assert CloseRun.objects.get().finished_at is not None  # the run itself is over
    assert not DayCharge.objects.filter(account__supply_point=late).exists()
    drain_work()  # the worker
    assert PrepaymentAccount.objects.get(supply_point=late).last_closed_day == D("2026-11-27")


def test_scheduled_job_closes_yesterday_at_five(electricity):
    from solde import schedule

    sp, acc = electricity
    _flat_account(sp, "2026-11-25", 3, 1000)
    schedule.run_due()  # marks every job as run up to now (12:00 on the 28th)
    with clock.freeze(datetime(2026, 11, 29, 4, 59, tzinfo=clock.BRUSSELS)):
        schedule.run_due()
        assert DayCharge.objects.count() == 0
    with clock.freeze(datetime(2026, 11, 29, 5, 0, tzinfo=clock.BRUSSELS)):
        schedule.run_due()
    acc.refresh_from_db()
    assert acc.last_closed_day == D("2026-11-27")  # the 28th has no closing index yet
    assert acc.waiting_reason == "no_data"
    assert CloseRun.objects.get().trigger == "schedule"


def test_days_left_averages_the_dsos_own_number_of_closed_days(electricity):
    """Dso.days_left_history (editable in the admin) is the forecast's window, not 14."""
    from solde.prepayment.services import balance_view, refresh_credit_state

    sp, acc = electricity
    # Three closed days: a costly one, then two at 1 €; the balance is the 10 € advance.
    for day, cents in (("2026-11-25", 1000), ("2026-11-26", 100), ("2026-11-27", 100)):
        DayCharge.objects.create(account=acc, day=D(day), charge_cents=cents, closed_at=clock.now())
    PrepaymentAccount.objects.filter(pk=acc.pk).update(
        last_closed_day=D("2026-11-27"), low_credit_threshold_cents=0, low_credit_days=10
    )
    acc = PrepaymentAccount.objects.select_related(
        "supply_point__dso", "balance_account", "advance_account"
    ).get(pk=acc.pk)
    # (10 € + 12 € emergency credit) / mean of 14 days (4 €) = 5.5 days: low.
    assert balance_view(acc).days_left == Decimal("5.5")
    refresh_credit_state([acc.pk])
    assert PrepaymentAccount.objects.get(pk=acc.pk).low_credit is True
    Dso.objects.filter(code="RESA").update(days_left_history=2)
    acc.supply_point.dso.refresh_from_db()
    # The last two days only (1 € a day): 22 days left, not low any more.
    assert balance_view(acc).days_left == Decimal("22.0")
    refresh_credit_state([acc.pk])
    assert PrepaymentAccount.objects.get(pk=acc.pk).low_credit is False
