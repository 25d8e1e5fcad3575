"""Any sequence of top-ups, adjustments and daily closes keeps the ledger balanced and the
balance equal to advance + credits − charges − recoveries (RULES.md §6)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde import clock
from solde.ledger.models import AccountKind
from solde.ledger.services import account, verify
from solde.prepayment.close import close_day
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import credit
from tests.prepayment.helpers import activated, add_readings, balance, meter_of

pytestmark = pytest.mark.django_db

FIRST = date(2026, 11, 1)

step = st.one_of(
    st.tuples(st.just("topup"), st.integers(min_value=1, max_value=25_000)),
    st.tuples(st.just("adjustment"), st.integers(min_value=-5_000, max_value=5_000)),
    st.tuples(st.just("close"), st.integers(min_value=1, max_value=4)),  # days to close
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(step, max_size=12),
    daily=st.lists(st.integers(min_value=0, max_value=40_000), min_size=28, max_size=28),
)
def test_any_sequence_keeps_the_ledger_whole(make_supply_point, make_tariff, steps, daily):
    with transaction.atomic():
        make_tariff("0.29", valid_from="2020-01-01")
        sp = make_supply_point()
        days = [FIRST + timedelta(days=i) for i in range(29)]
        with clock.freeze(clock.day_start(FIRST) + timedelta(days=40)):
            acc = activated(sp, clock.day_start(FIRST))
            index, points = 0, []
            for d, used in zip(days, [0, *daily], strict=True):
                index += used
                points.append((clock.day_start(d), index))
            add_readings(meter_of(sp), "1.8.1", points)
            add_readings(meter_of(sp), "1.8.2", [(t, 0) for t, _ in points])
            collections = account("collections:test", AccountKind.COLLECTIONS).pk
            adjustments = account("adjustments", AccountKind.ADJUSTMENTS).pk
            credited, closed_to = 0, FIRST - timedelta(days=1)
            for n, (kind, value) in enumerate(steps):
                if kind == "close":
                    closed_to = min(closed_to + timedelta(days=value), days[-2])
                    close_day(closed_to)
                    continue
                counter = collections if kind == "topup" else adjustments
                credit(
                    PrepaymentAccount.objects.get(pk=acc.pk),
                    value,
                    key=f"{kind}:{n}",
                    kind=kind,
                    counter_account_id=counter,
                )
                credited += value
            charged = sum(
                c + r for c, r in DayCharge.objects.values_list("charge_cents", "recovery_cents")
            )
            assert balance(sp) == 1000 + credited - charged
            assert verify().ok
            transaction.set_rollback(True)
