"""Prometheus metrics: the domain's figures, computed from the database at scrape time.

Nothing is counted in process memory, so every web process answers the same figures and a
restart loses nothing. Each figure is one aggregate query; the large tables are read through an
index or their primary key only (accepted readings are the highest reading id handed out: ids
only grow, one per row written, which is what Prometheus' rate() needs from a counter)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.db import connection
from django.db.models import Count, Max, Min, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from solde import clock


class DomainCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        yield from readings()
        yield from close()
        yield from orders()
        yield from outbox()
        yield from topups()
        yield from messages()
        yield from accounts()
        yield from interruptions()
        scrape = GaugeMetricFamily(
            "solde_scrape_duration_seconds", "Time spent computing these metrics."
        )
        scrape.add_metric([], time.monotonic() - started)
        yield scrape


def readings() -> Iterator[Metric]:
    from solde.readings.models import RejectedReading

    accepted = CounterMetricFamily(
        "solde_readings_accepted",
        "Index readings accepted (highest reading id handed out, ids drawn 32 at a time).",
    )
    accepted.add_metric([], accepted_readings())
    yield accepted
    rejected = CounterMetricFamily(
        "solde_readings_rejected",
        "Reading rows refused at ingestion, by reason.",
        labels=["reason"],
    )
    for row in RejectedReading.objects.values("reason").annotate(n=Count("pk")).order_by():
        rejected.add_metric([row["reason"]], row["n"])
    yield rejected


def accepted_readings() -> int:
    """The highest reading id handed out: ids only grow, one per row written. PostgreSQL: the
    id sequence's last value, one read whatever the table's size — the partitioned readings
    table has no index on id, and retention drops old rows without moving it back. Sessions
    draw ids 32 at a time (migration readings 0005), so it runs ahead of the rows written by
    less than 32 per database session that wrote readings. SQLite: the largest rowid, read
    from the end of the table's B-tree."""
    from solde.readings.models import Reading

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id'))",
                [Reading._meta.db_table],
            )
            row = cur.fetchone()
        return int(row[0] or 0) if row else 0
    return Reading.objects.aggregate(m=Max("pk"))["m"] or 0


def close() -> Iterator[Metric]:
    from solde.prepayment.models import CloseRun

    run = (
        CloseRun.objects.filter(ean="", finished_at__isnull=False).order_by("-finished_at").first()
    )
    duration = GaugeMetricFamily(
        "solde_close_last_duration_seconds", "Duration of the last finished daily close."
    )
    closed = GaugeMetricFamily(
        "solde_close_last_accounts",
        "Accounts in the last finished daily close, by outcome.",
        labels=["outcome"],
    )
    day = GaugeMetricFamily(
        "solde_close_last_day_timestamp_seconds",
        "The last day closed for every account (its local midnight, Unix time).",
    )
    if run is not None and run.finished_at is not None:
        duration.add_metric([], (run.finished_at - run.started_at).total_seconds())
        closed.add_metric(["closed"], run.closed)
        closed.add_metric(["waiting_for_data"], run.waiting_for_data)
        closed.add_metric(["waiting_for_price"], run.waiting_for_price)
        last = CloseRun.objects.filter(ean="", finished_at__isnull=False).aggregate(d=Max("day"))
        day.add_metric([], clock.local_datetime(last["d"], 0, 0).timestamp())
    yield duration
    yield closed
    yield day


def orders() -> Iterator[Metric]:
    from solde.orders.models import Order, OrderStatus

    by_status = GaugeMetricFamily(
        "solde_orders", "Meter orders by kind and status.", labels=["kind", "status"]
    )
    for row in Order.objects.values("kind", "status").annotate(n=Count("pk")).order_by():
        by_status.add_metric([row["kind"], row["status"]], row["n"])
    yield by_status
    oldest = GaugeMetricFamily(
        "solde_orders_oldest_unacknowledged_age_seconds",
        "Age of the oldest order sent to a meter and not yet acknowledged (0: none).",
    )
    sent = Order.objects.filter(status=OrderStatus.SENT).aggregate(m=Min("sent_at"))
    oldest.add_metric([], _age(sent["m"]))
    yield oldest


def outbox() -> Iterator[Metric]:
    """Work written and not yet sent: the lag of each outbox (0 when empty)."""
    from solde.models import WorkItem, WorkStatus
    from solde.notifications.models import Event, Message, MessageStatus
    from solde.orders.models import Order, OrderStatus

    lag = GaugeMetricFamily(
        "solde_outbox_lag_seconds",
        "Age of the oldest item waiting in an outbox.",
        labels=["outbox"],
    )
    now = clock.now()
    order = Order.objects.filter(status=OrderStatus.CREATED, created_at__lte=now).aggregate(
        m=Min("created_at")
    )
    lag.add_metric(["orders"], _age(order["m"]))
    message = Message.objects.filter(status=MessageStatus.PENDING).aggregate(m=Min("created_at"))
    lag.add_metric(["messages"], _age(message["m"]))
    event = Event.objects.filter(handled_at__isnull=True).aggregate(m=Min("occurred_at"))
    lag.add_metric(["events"], _age(event["m"]))
    # Durable work counts from when it fell due: a delayed item or a retry waiting for its
    # backoff is not late (the same rule as /readyz's "work" check).
    work = WorkItem.objects.filter(status=WorkStatus.PENDING, next_attempt_at__lte=now).aggregate(
        m=Min("next_attempt_at")
    )
    lag.add_metric(["work"], _age(work["m"]))
    yield lag
    dead = GaugeMetricFamily(
        "solde_work_dead_items",
        "Durable work items given up after their retries, waiting for an operator.",
    )
    dead.add_metric([], WorkItem.objects.filter(status=WorkStatus.DEAD).count())
    yield dead


def topups() -> Iterator[Metric]:
    from solde.topups.models import Topup

    count = CounterMetricFamily("solde_topups", "Top-ups credited, by channel.", labels=["channel"])
    cents = CounterMetricFamily(
        "solde_topups_euros", "Euros credited by top-ups, by channel.", labels=["channel"]
    )
    for row in (
        Topup.objects.values("channel").annotate(n=Count("pk"), c=Sum("amount_cents")).order_by()
    ):
        count.add_metric([row["channel"]], row["n"])
        cents.add_metric([row["channel"]], (row["c"] or 0) / 100)
    yield count
    yield cents


def messages() -> Iterator[Metric]:
    from solde.notifications.models import Message

    family = GaugeMetricFamily(
        "solde_messages",
        "Messages to customers by channel and status.",
        labels=["channel", "status"],
    )
    for row in Message.objects.values("channel", "status").annotate(n=Count("pk")).order_by():
        family.add_metric([row["channel"], row["status"]], row["n"])
    yield family


def accounts() -> Iterator[Metric]:
    from solde.prepayment.models import PrepaymentAccount

    family = GaugeMetricFamily(
        "solde_accounts",
        "Prepayment accounts by state, credit state and supply.",
        labels=["state", "credit_state", "supply"],
    )
    rows = PrepaymentAccount.objects.values("state", "credit_state", "supply").annotate(
        n=Count("pk")
    )
    for row in rows.order_by():
        family.add_metric([row["state"], row["credit_state"], row["supply"]], row["n"])
    yield family


def interruptions() -> Iterator[Metric]:
    """Interruptions and reconnections as executed by the meters (the orders that did it)."""
    from solde.orders.models import Order, OrderKind, OrderStatus

    family = CounterMetricFamily(
        "solde_supply_changes",
        "Interruptions and reconnections executed by meters.",
        labels=["change"],
    )
    kinds = {
        OrderKind.DISCONNECT: "disconnect",
        OrderKind.LIMIT_POWER: "limit_power",
        OrderKind.RECONNECT: "reconnect",
        OrderKind.REMOVE_LIMIT: "remove_limit",
    }
    counts = dict(
        Order.objects.filter(kind__in=list(kinds), status=OrderStatus.EXECUTED)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for kind, label in kinds.items():
        family.add_metric([label], counts.get(kind, 0))
    yield family


def _age(since) -> float:
    if since is None:
        return 0.0
    return max((clock.now() - since).total_seconds(), 0.0)


def registry() -> CollectorRegistry:
    """A registry holding only the domain collector (no process metrics of the web worker
    that happens to answer: they would differ from one scrape to the next)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DomainCollector())
    return reg
