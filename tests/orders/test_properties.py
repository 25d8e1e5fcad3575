"""Properties of the order machinery over random sequences of decisions, sends and answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solde import clock
from solde.headend import topics
from solde.orders.models import IN_FLIGHT_STATUSES, PENDING_STATUSES, RELAY_KINDS, Order
from solde.orders.services import dispatch_due, record_result, request_order

pytestmark = pytest.mark.django_db

KINDS = ["disconnect", "reconnect", "limit_power", "remove_limit", "display_balance"]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.integers(0, 1), st.sampled_from(KINDS)),
        st.tuples(st.just("dispatch"), st.just(0), st.just("")),
        st.tuples(
            st.just("answer"),
            st.integers(0, 50),
            st.sampled_from(["acknowledged", "executed", "failed"]),
        ),
        st.tuples(st.just("wait"), st.integers(1, 600), st.just("")),
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=ops)
def test_orders_never_overlap_and_never_pile_up(script, account_with, at, inprocess):
    sink = inprocess.transport("sink")  # the meters take every order and answer as scripted
    sink.subscribe([topics.all_meters("orders")], lambda topic, payload, ack: None)
    with clock.freeze(at("2026-11-30 09:00")):
        meters = [account_with(-1300).supply_point.meters.get() for _ in range(2)]
        sent: list[int] = []
        for op, n, arg in script:
            if op == "request":
                request_order(meters[n].pk, arg, "property")
            elif op == "dispatch":
                before = set(
                    Order.objects.filter(status__in=IN_FLIGHT_STATUSES).values_list("pk", flat=True)
                )
                dispatch_due()
                sent += [
                    pk
                    for pk in Order.objects.filter(attempts__gt=0).values_list("pk", flat=True)
                    if pk not in before
                ]
            elif op == "answer" and sent:
                # Mostly an order in flight; sometimes any order sent before (late, duplicate).
                live = list(
                    Order.objects.filter(pk__in=sent, status__in=IN_FLIGHT_STATUSES)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                pool = live if live and n % 4 else sent
                order = Order.objects.select_related("meter").get(pk=pool[n % len(pool)])
                record_result(order.meter.serial, {"order_id": order.pk, "status": arg})
            elif op == "wait":
                clock.advance(timedelta(seconds=n))
            for m in meters:
                mine = Order.objects.filter(meter=m)
                # Never two relay or limiter orders in flight for one meter.
                assert mine.filter(kind__in=RELAY_KINDS, status__in=IN_FLIGHT_STATUSES).count() <= 1
                # A newer order supersedes: never two pending orders of one kind.
                kinds = list(
                    mine.filter(status__in=PENDING_STATUSES).values_list("kind", flat=True)
                )
                assert len(kinds) == len(set(kinds))
                # Contradictory orders are never both pending.
                assert not {"disconnect", "reconnect"} <= set(kinds)
                assert not {"limit_power", "remove_limit"} <= set(kinds)
                # Nothing is in flight without having been sent.
                assert not mine.filter(status__in=IN_FLIGHT_STATUSES, attempts=0).exists()
    sink.close()
