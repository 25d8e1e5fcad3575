"""The close's batch path against the pure rules on random accounts.

Many accounts with random readings (on the midnights or between them, some missing), closed
over several days in small chunks: every charge, kWh text and daily index row must be what
`rules.segment_indexes` and `rules.close_account_day` give for that account alone, read from
the same readings in plain Python."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from solde import clock
from solde.ledger.services import verify
from solde.prepayment import close as close_module
from solde.prepayment import rules
from solde.prepayment.close import close_day
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import refresh_credit_state
from solde.readings.models import DailyIndex
from solde.registry.models import CHARGED_REGISTERS
from solde.topups.services import credit_topup
from tests.prepayment.helpers import activated, add_readings, meter_of, midnight

pytestmark = pytest.mark.django_db

DAYS = [date(2026, 11, 24) + timedelta(days=i) for i in range(4)]  # closed: the 24th … 27th


def _around(points: list[tuple[datetime, int]], t: datetime):
    before = max((p for p in points if p[0] <= t), default=None)
    after = min((p for p in points if p[0] >= t), default=None)
    return before, after


@pytest.mark.parametrize("seed", [1, 2])
def test_random_accounts_are_charged_as_the_pure_rules_say(
    seed, make_supply_point, make_tariff, frozen, monkeypatch
):
    monkeypatch.setattr(close_module, "CHUNK", 7)
    rnd = random.Random(seed)
    make_tariff("0.31234")
    make_tariff("0.24567", register="1.8.2")
    make_tariff("0.19876", category="social")
    make_tariff("0.09123", energy="gas")
    tariffs = {
        ("electricity", "average"): [
            ("", date(2026, 1, 1), Decimal("0.31234")),
            ("1.8.2", date(2026, 1, 1), Decimal("0.24567")),
        ],
        ("electricity", "social"): [("", date(2026, 1, 1), Decimal("0.19876"))],
        ("gas", "average"): [("", date(2026, 1, 1), Decimal("0.09123"))],
    }
    accounts = []
    for i in range(30):
        energy = "gas" if i % 4 == 3 else "electricity"
        category = "social" if energy == "electricity" and i % 3 == 0 else "average"
        sp = make_supply_point(energy=energy, category=category)
        acc = activated(sp, midnight("2026-11-24"))
        topped_up = rnd.choice([0, 0, 2000, 3050])  # credit states and low credit vary
        if topped_up:
            credit_topup(acc, topped_up, channel="retail", external_id=f"t{i}")
        m = meter_of(sp)
        points: dict[str, list[tuple[datetime, int]]] = {}
        for reg in CHARGED_REGISTERS[energy]:
            value, pts = rnd.randrange(10**6), []
            for day in [*DAYS, date(2026, 11, 28)]:
                start = clock.day_start(day)
                # on the midnight (usually), or some minutes to hours around it
                offsets = (
                    [0] if rnd.random() < 0.7 else [-rnd.randrange(1, 600), rnd.randrange(1, 600)]
                )
                for minutes in offsets:
                    value += rnd.randrange(0, 9000)
                    pts.append((start + timedelta(minutes=minutes), value))
            if rnd.random() < 0.1:  # a gap: a reading lost, interpolated across or waited for
                del pts[rnd.randrange(1, len(pts))]
            pts.sort()
            add_readings(m, reg, pts)
            points[reg] = pts
        accounts.append((sp, acc, m, energy, category, points))

    close_day(date(2026, 11, 27))

    for sp, acc, m, energy, category, points in accounts:
        charged = {d.day: d for d in DayCharge.objects.filter(account=acc)}
        daily = {
            (d.register, d.day): (d.start_milli, d.end_milli, d.consumption_milli, d.interpolated)
            for d in DailyIndex.objects.filter(meter=m)
        }
        waiting = False
        for day in DAYS:
            start, end = clock.day_bounds(day)
            found = {
                reg: rules.segment_indexes(
                    start,
                    end,
                    _around(pts, start),
                    _around(pts, end),
                    start == midnight("2026-11-24"),
                )
                for reg, pts in points.items()
            }
            if waiting or any(f is None for f in found.values()):
                waiting = True
                assert day not in charged, (sp.ean, day)
                continue
            outcome = rules.close_account_day(
                {reg: f.consumption for reg, f in found.items()},
                energy=energy,
                day=day,
                tariff=tariffs[(energy, category)],
                gas_factors=[],
                default_gas_factor=close_module.DEFAULT_GAS_FACTOR,
                activation_day=DAYS[0],
                advance_outstanding_cents=10**9,  # the recovery is not what is checked here
                recovery_per_day_cents=0,
                interrupted=False,
            )
            assert isinstance(outcome, rules.ClosedDay)
            assert charged[day].charge_cents == outcome.charge_cents, (sp.ean, day)
            assert charged[day].kwh == outcome.details["kwh"]
            for reg, f in found.items():
                assert daily[(reg, day)] == (
                    round(f.start),
                    round(f.end),
                    round(f.consumption),
                    f.interpolated,
                ), (sp.ean, reg, day)
    assert verify().ok
    # The credit state the close wrote from its own read and its postings' balances is the one
    # the ledger gives: recomputing it from the stored balances changes nothing.
    fields = ("credit_state", "low_credit", "emergency_since", "exhausted_since")
    ids = [acc.pk for _, acc, *_ in accounts]
    written = list(PrepaymentAccount.objects.filter(pk__in=ids).order_by("pk").values_list(*fields))
    assert len({state for state, *_ in written}) > 1  # not every account in the same state
    assert refresh_credit_state(ids) == []
    after = list(PrepaymentAccount.objects.filter(pk__in=ids).order_by("pk").values_list(*fields))
    assert after == written
