"""Meter orders: issuing (outbox), dispatching after commit, answers from meters, the shadow.

`request_order` is called inside the deciding service's transaction; the order leaves through
`dispatch_due`, right after the commit and from the sweep job every minute (retries, expiry,
reconciliation). Meters answer through the head-end listener: `record_result`, `record_event`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q

from solde import clock
from solde.bulk import copy_rows, next_ids, pg_array
from solde.money import format_eur
from solde.notifications.events import publish_many
from solde.orders import rules
from solde.orders.models import (
    FINAL_STATUSES,
    INTERRUPTION_KINDS,
    PENDING_STATUSES,
    RELAY_KINDS,
    MeterShadow,
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    Relay,
)

log = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


# ---------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------


def request_order(meter_id: int, kind: str, reason: str, params: dict | None = None) -> Order:
    """Create an order for a meter inside the caller's transaction (outbox).

    Pending orders it contradicts are superseded, the meter's desired state is updated, and the
    order is dispatched right after the commit.
    """
    return request_orders([(meter_id, kind, reason, params or {})])[0]


def request_orders(
    requests: Sequence[tuple[int, str, str, dict | None]],
    keys: Sequence[str] | None = None,
) -> list[Order]:
    """The bulk form of `request_order`: (meter id, kind, reason, params) each, at most one per
    meter and kind, in a few set-based statements. Returns the orders in the same order.

    `keys`: one idempotency key per order (unique in the table: a decision issued twice fails
    instead of ordering twice)."""
    if not requests:
        return []
    now = clock.now()
    reqs = _normalize(requests, copy=True)
    order_keys: Sequence[str | None] = keys if keys is not None else [None] * len(reqs)
    ids = _issue(reqs, order_keys, now)
    orders = []
    for pk, (m, k, r, p), key in zip(ids, reqs, order_keys, strict=True):
        order = Order(
            pk=pk,
            meter_id=m,
            kind=OrderKind(k),
            reason=r,
            params=p,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            expires_at=now + rules.LIFETIME[k],
            key=key,
        )
        order._state.adding, order._state.db = False, connection.alias
        orders.append(order)
    return orders


def issue_orders(
    requests: Sequence[tuple[int, str, str, dict | None]],
    keys: Sequence[str] | None = None,
) -> list[int]:
    """`request_orders` for a big run (the displays after a close): the same orders, the same
    supersession, desired state and dispatch, but it returns only the new orders' ids (no
    model object per order)."""
    if not requests:
        return []
    reqs = _normalize(requests)
    return _issue(reqs, keys if keys is not None else [None] * len(reqs), clock.now())


_KINDS = {kind.value: kind.value for kind in OrderKind}


def _normalize(
    requests: Sequence[tuple[int, str, str, dict | None]], copy: bool = False
) -> list[tuple[int, str, str, dict]]:
    """Valid kinds (an unknown one raises ValueError), reasons cut to the column; the params
    copied for orders handed back to the caller (`issue_orders` writes them as they are)."""
    kinds = _KINDS
    out = []
    for m, k, r, p in requests:
        kind = kinds.get(k) or OrderKind(k).value
        out.append((m, kind, r[:300], dict(p or {}) if copy else (p or {})))
    return out


_ORDER_COLUMNS = [
    "id",
    "meter_id",
    "kind",
    "status",
    "params",
    "reason",
    "attempts",
    "created_at",
    "updated_at",
    "next_attempt_at",
    "expires_at",
    "detail",
    "key",
]


def _issue(
    reqs: list[tuple[int, str, str, dict]], keys: Sequence[str | None], now: datetime
) -> list[int]:
    """Write the orders (ids reserved, rows copied in), supersede what they contradict, set
    the meters' desired state and queue the dispatch after the commit."""
    with transaction.atomic():
        _default_limiter_amps(reqs)
        ids = next_ids(Order, len(reqs))
        expires = {kind: now + life for kind, life in rules.LIFETIME.items()}
        created = OrderStatus.CREATED.value
        copy_rows(
            Order,
            _ORDER_COLUMNS,
            (
                (pk, m, k, created, json.dumps(p), r, 0, now, now, now, expires[k], "", key)
                for pk, (m, k, r, p), key in zip(ids, reqs, keys, strict=True)
            ),
        )
        # The history starts at `created_at`; events record what happens after.
        _supersede([(pk, m, k) for pk, (m, k, _, _) in zip(ids, reqs, strict=True)], now)
        _set_desired([(pk, m, k, p) for pk, (m, k, _, p) in zip(ids, reqs, strict=True)], now)
        _dispatch_on_commit(ids)
    return ids


def _dispatch_on_commit(ids: list[int]) -> None:
    """Send these orders right after the transaction commits, together with every other order
    the same transaction issued: the first callback to run sends all that are queued on this
    connection (one claim, one publish round, one `sent` update per commit — a top-up's
    reconnect and display go together), the later ones find nothing left to do.

    A handful (a reconnect after a top-up) leaves at once; a big run (the displays after a
    close) is left to the dispatcher loop so the deciding job stays short.
    """
    if len(ids) > int(_setting("ORDERS_DISPATCH_ON_COMMIT_MAX", 100)):
        return
    conn = transaction.get_connection()
    flush = getattr(conn, "_solde_orders_flush", None)
    if flush is None:
        flush = conn._solde_orders_flush = lambda: _flush_on_commit(conn)
    queued: list[int] | None = getattr(conn, "_solde_orders_queued", None)
    # Queued ids none of whose callbacks is still pending belong to a transaction that was
    # rolled back (or already sent): start afresh.
    if queued is None or not any(entry[1] is flush for entry in reversed(conn.run_on_commit)):
        queued = conn._solde_orders_queued = []
    queued.extend(ids)
    transaction.on_commit(flush)


def _flush_on_commit(conn) -> None:
    queued = getattr(conn, "_solde_orders_queued", None) or []
    conn._solde_orders_queued = []
    if queued:
        _dispatch_after_commit(list(dict.fromkeys(queued)))


def _default_limiter_amps(reqs: list[tuple[int, str, str, dict]]) -> None:
    missing = [m for m, k, _, p in reqs if k == OrderKind.LIMIT_POWER and not p.get("amps")]
    if not missing:
        return
    from solde.registry.models import Meter

    amps = dict(
        Meter.objects.filter(pk__in=missing).values_list("pk", "supply_point__dso__limiter_amps")
    )
    for i, (m, k, r, p) in enumerate(reqs):
        if k == OrderKind.LIMIT_POWER and not p.get("amps"):
            reqs[i] = (m, k, r, {**p, "amps": amps[m]})  # not the caller's dict


def _supersede(new: list[tuple[int, int, str]], now: datetime) -> None:
    """Supersede the pending orders the new ones (id, meter, kind) contradict (RULES.md §9),
    set-based: per kind of new order, one UPDATE joined to the new orders (each superseded
    order points to the new one of its meter), then its events copied in."""
    by_kind: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for pk, meter_id, kind in new:
        by_kind[kind].append((pk, meter_id))
    new_ids = [pk for pk, _, _ in new]
    table = connection.ops.quote_name(Order._meta.db_table)
    events: list[tuple[int, datetime, str, str, str]] = []
    for kind, pairs in by_kind.items():
        contradicted = sorted(rules.CONTRADICTS.get(kind, set()))
        if not contradicted:
            continue
        detail = f"superseded by a newer {kind} order"
        pairs_sql, pairs_params = _pairs_table(pairs)
        not_new_sql, not_new_params = _not_in(f"{table}.id", new_ids)
        at = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cur:
            # One statement, its status test re-checked on rows changed meanwhile: an order a
            # meter's answer made executed while this ran stands (tests/orders/test_answer_race).
            # The target is not aliased and the new orders' columns are named apart:
            # SQLite's RETURNING names the target's own columns only.
            cur.execute(
                f"UPDATE {table} SET status = %s, superseded_by_id = n.new_id, "
                "updated_at = %s, finished_at = %s, detail = %s "
                f"FROM {pairs_sql} WHERE {table}.meter_id = n.new_meter "
                f"AND {table}.kind IN ({', '.join(['%s'] * len(contradicted))}) "
                f"AND {table}.status IN ({', '.join(['%s'] * len(PENDING_STATUSES))}) "
                f"AND {not_new_sql} RETURNING id",
                [
                    OrderStatus.SUPERSEDED.value,
                    at,
                    at,
                    detail,
                    *pairs_params,
                    *contradicted,
                    *(s.value for s in PENDING_STATUSES),
                    *not_new_params,
                ],
            )
            events += [
                (pk, now, OrderStatus.SUPERSEDED.value, "status", detail)
                for (pk,) in cur.fetchall()
            ]
    if events:
        copy_rows(OrderEvent, ["order_id", "at", "status", "kind", "detail"], events)


def _pairs_table(pairs: Sequence[tuple[int, int]]) -> tuple[str, list]:
    """(id, meter) pairs of new orders as a table `n` (new_id, new_meter) for a join, sent as
    one parameter per column."""
    if connection.vendor == "postgresql":
        ids, _ = pg_array(p[0] for p in pairs)
        meters, _ = pg_array(p[1] for p in pairs)
        return "unnest(%s::bigint[], %s::bigint[]) AS n (new_id, new_meter)", [ids, meters]
    return (
        "(SELECT json_extract(value, '$[0]') AS new_id, json_extract(value, '$[1]') AS new_meter "
        "FROM json_each(%s)) AS n",
        [json.dumps(list(pairs))],
    )


def _in(column: str, ids: Sequence[int]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [pg_array(ids)[0]]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]


def _not_in(column: str, ids: Sequence[int]) -> tuple[str, list]:
    sql, params = _in(column, ids)
    return f"NOT ({sql})", params


def _desired_changes(kind: str, params: dict) -> dict:
    if kind == OrderKind.DISCONNECT:
        return {"desired_relay": Relay.DISCONNECTED}
    if kind == OrderKind.RECONNECT:
        return {"desired_relay": Relay.CONNECTED}
    if kind == OrderKind.LIMIT_POWER:
        return {"desired_limiter_amps": int(params["amps"])}
    if kind == OrderKind.REMOVE_LIMIT:
        return {"desired_limiter_amps": None}
    if kind == OrderKind.SET_PAYMENT_MODE and params.get("mode"):
        return {"desired_payment_mode": params["mode"]}
    if kind == OrderKind.DISPLAY_BALANCE and params:
        return {"desired_display": params}
    return {}


def _set_desired(new: list[tuple[int, int, str, dict]], now: datetime) -> None:
    """Each meter's desired state follows the new orders (id, meter, kind, params) issued for
    it, set-based: one UPDATE per distinct value, one upsert for the displays."""
    groups: dict[tuple[str, object], list[int]] = defaultdict(list)
    displays: dict[int, int] = {}  # meter → its newest display order
    for pk, meter_id, kind, params in new:
        if kind == OrderKind.DISPLAY_BALANCE:
            if params and pk > displays.get(meter_id, 0):
                displays[meter_id] = pk
            continue
        for name, value in _desired_changes(kind, params).items():
            groups[(name, value)].append(meter_id)
    if groups:
        _ensure_shadows(sorted({m for ms in groups.values() for m in ms}))
    for (name, value), ids in groups.items():
        for i in range(0, len(ids), 5000):
            MeterShadow.objects.filter(meter_id__in=ids[i : i + 5000]).update(
                **{name: value, "desired_at": now}
            )
    if displays:
        # The shadow shows what the meter was last asked to display: the new order's params.
        columns, values = _shadow_defaults(exclude=("desired_display", "desired_at"))
        ids_sql, ids_params = _in("o.id", list(displays.values()))
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {_SHADOW} (meter_id, desired_display, desired_at"
                f"{''.join(', ' + c for c in columns)}) "
                f"SELECT o.meter_id, o.params, %s{', %s' * len(columns)} "
                f"FROM {connection.ops.quote_name(Order._meta.db_table)} AS o "
                f"WHERE {ids_sql} "
                "ON CONFLICT (meter_id) DO UPDATE SET desired_display = excluded.desired_display, "
                "desired_at = excluded.desired_at",
                [connection.ops.adapt_datetimefield_value(now), *values, *ids_params],
            )


_SHADOW = MeterShadow._meta.db_table


def _shadow_defaults(exclude: Sequence[str] = ()) -> tuple[list[str], list]:
    """A new shadow's columns with a default (the model's defaults are not the database's)."""
    columns, values = [], []
    for f in MeterShadow._meta.concrete_fields:
        if f.primary_key or f.name == "meter" or f.name in exclude:
            continue
        if f.null and not f.has_default():
            continue  # NULL
        columns.append(connection.ops.quote_name(str(f.column)))
        values.append(f.get_db_prep_save(f.get_default(), connection))
    return columns, values


def _ensure_shadows(meter_ids: list[int]) -> None:
    from solde.registry.models import Meter

    columns, values = _shadow_defaults()
    ids_sql, ids_params = _in("m.id", meter_ids)
    meter_table = connection.ops.quote_name(Meter._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {_SHADOW} (meter_id{''.join(', ' + c for c in columns)}) "
            f"SELECT m.id{', %s' * len(columns)} FROM {meter_table} AS m WHERE {ids_sql} "
            "ON CONFLICT (meter_id) DO NOTHING",
            [*values, *ids_params],
        )


def _dispatch_after_commit(order_ids: list[int]) -> None:
    # A failure here (broker down) must not break the committed request: the sweep retries.
    if not _setting("ORDERS_DISPATCH_ON_COMMIT", True):
        return
    try:
        dispatch_due(order_ids=order_ids)
    except Exception as exc:
        log.exception("dispatch after commit failed for orders %s; the sweep will retry", order_ids)
        _record_dispatch_failure(order_ids, exc)


def _record_dispatch_failure(order_ids: list[int], exc: Exception) -> None:
    """Say on the orders (admin: detail) why they did not leave yet; the sweep resends them.
    If even that cannot be written (database down), the log above is the record."""
    try:
        Order.objects.filter(pk__in=order_ids, status=OrderStatus.CREATED).update(
            detail=f"dispatch failed, retried by the sweep: {type(exc).__name__}: {exc}"[:300],
            updated_at=clock.now(),
        )
    except Exception:  # noqa: BLE001 — already logged with its traceback
        log.exception("could not record the dispatch failure on orders %s", order_ids)


@transaction.atomic
def cancel_orders(order_ids: Iterable[int], who: str = "operator") -> int:
    """Cancel pending orders (an operator's decision). Returns how many were cancelled."""
    now = clock.now()
    ids = list(
        Order.objects.select_for_update()
        .filter(pk__in=list(order_ids), status__in=PENDING_STATUSES)
        .values_list("pk", flat=True)
    )
    return len(_finish(ids, OrderStatus.CANCELLED, now, f"cancelled by {who}"))


def _finish(ids: list[int], status: str, now: datetime, detail: str) -> list[int]:
    """End these orders with `status` — those still pending once locked: a meter's answer
    committed since they were read (executed, failed) stands. Returns the ids it ended."""
    if not ids:
        return []
    ids = list(
        Order.objects.select_for_update()
        .filter(pk__in=ids, status__in=PENDING_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    Order.objects.filter(pk__in=ids).update(
        status=status, updated_at=now, finished_at=now, detail=detail[:300]
    )
    OrderEvent.objects.bulk_create(
        [OrderEvent(order_id=pk, at=now, status=status, detail=detail[:300]) for pk in ids]
    )
    return ids


# ---------------------------------------------------------------------------------------------
# Dispatching
# ---------------------------------------------------------------------------------------------


@dataclass
class Outgoing:
    order_id: int
    serial: str
    payload: dict


def order_payload(order: Order) -> dict:
    """The JSON sent down to the meter (docs/headend.md)."""
    return {
        "order_id": order.pk,
        "kind": order.kind,
        "params": order.params,
        "issued_at": order.created_at.isoformat(),
        "expires_at": order.expires_at.isoformat() if order.expires_at else None,
        "attempt": order.attempts,
    }


def dispatch_due(
    order_ids: Iterable[int] | None = None, now: datetime | None = None, transport=None
) -> int:
    """Send the orders that are due through the head-end. Returns how many reached it.

    Orders are claimed in a short transaction (attempt counted, next attempt leased with
    backoff), then published after that commit; an order the broker took becomes `sent`.
    """
    now = now or clock.now()
    ids = list(order_ids) if order_ids is not None else None
    if transport is None:
        from solde.headend.adapters import publisher

        transport = publisher()
    from solde.headend import topics

    total = 0
    # Batch after batch until nothing is due: a big run (100,000 displays) leaves in one call.
    # Orders not taken by the broker are leased to a later attempt, so this ends.
    for _ in range(10_000):
        outgoing = _claim(now, ids)
        if not outgoing:
            break
        taken = transport.publish_many([(topics.orders(o.serial), o.payload) for o in outgoing])
        done = [o.order_id for o, ok in zip(outgoing, taken, strict=True) if ok]
        if len(done) < len(outgoing):
            log.warning(
                "%d of %d orders did not reach the head-end; they are sent again later",
                len(outgoing) - len(done),
                len(outgoing),
            )
        _mark_sent(done, now)
        total += len(done)
        if ids is not None:
            break
    return total


def _mark_sent(done: list[int], now: datetime) -> None:
    if not done:
        return
    with transaction.atomic():
        sent_now = list(
            Order.objects.filter(pk__in=done, status=OrderStatus.CREATED).values_list(
                "pk", flat=True
            )
        )
        Order.objects.filter(pk__in=sent_now).update(
            status=OrderStatus.SENT, sent_at=now, updated_at=now, detail=""
        )
        resent = set(done) - set(sent_now)
        OrderEvent.objects.bulk_create(
            [OrderEvent(order_id=pk, at=now, status=OrderStatus.SENT) for pk in sent_now]
            + [
                OrderEvent(order_id=pk, at=now, status=OrderStatus.SENT, kind="resent")
                for pk in resent
            ],
            batch_size=2000,
        )


def _claim(now: datetime, order_ids: list[int] | None) -> list[Outgoing]:
    base = float(_setting("ORDERS_RETRY_BASE_SECONDS", 30))
    cap = float(_setting("ORDERS_RETRY_CAP_SECONDS", 1800))
    with transaction.atomic():
        if order_ids is None:  # the after-commit path stays short; the sweep expires
            _expire(now)
        qs = Order.objects.filter(
            status__in=(OrderStatus.CREATED, OrderStatus.SENT), next_attempt_at__lte=now
        )
        if order_ids is not None:
            qs = qs.filter(pk__in=order_ids)
        # Relay and limiter orders of one meter go one at a time, oldest first: one waits
        # while an older one of its meter is pending (until resolved or superseded).
        older = Order.objects.filter(
            meter_id=OuterRef("meter_id"),
            kind__in=RELAY_KINDS,
            status__in=PENDING_STATUSES,
            pk__lt=OuterRef("pk"),
        )
        qs = qs.exclude(Q(kind__in=RELAY_KINDS) & Exists(older))
        if connection.vendor == "postgresql":
            # Two dispatchers (after-commit and sweep) never claim the same order.
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        orders = list(
            qs.select_related("meter").order_by("created_at", "pk")[
                : int(_setting("ORDERS_DISPATCH_BATCH", 1000))
            ]
        )
        if not orders:
            return []
        orders = _apply_guards(orders, now)
        # One UPDATE per distinct attempt count (the backoff depends on it), not per order.
        by_attempts: dict[int, list[int]] = defaultdict(list)
        filled: list[Order] = []
        for o in orders:
            o.attempts += 1
            o.next_attempt_at = now + rules.backoff(o.attempts, base, cap)
            o.updated_at = now
            by_attempts[o.attempts].append(o.pk)
            if o.kind == OrderKind.DISPLAY_BALANCE and not ({"balance", "2"} & set(o.params)):
                o.params = {**o.params, **_display_values(o.meter.supply_point_id)}
                filled.append(o)
        for attempts, pks in by_attempts.items():
            Order.objects.filter(pk__in=pks).update(
                attempts=attempts,
                next_attempt_at=now + rules.backoff(attempts, base, cap),
                updated_at=now,
            )
        if filled:
            Order.objects.bulk_update(filled, ["params"])
        return [Outgoing(o.pk, o.meter.serial, order_payload(o)) for o in orders]


def _apply_guards(orders: list[Order], now: datetime) -> list[Order]:
    """RULES.md §7 checked again when an interruption is sent (`rules.send_verdict`): the
    orders it refuses are cancelled, those outside an allowed window held until it opens."""
    risky = [o for o in orders if o.kind in INTERRUPTION_KINDS]
    if not risky:
        return orders
    from solde.prepayment.models import PrepaymentAccount
    from solde.registry.models import SupplyPoint

    sp_ids = {o.meter.supply_point_id for o in risky}
    sps = {sp.pk: sp for sp in SupplyPoint.objects.filter(pk__in=sp_ids).select_related("dso")}
    balances = dict(
        PrepaymentAccount.objects.filter(supply_point_id__in=sp_ids).values_list(
            "supply_point_id", "balance_account__balance_cents"
        )
    )
    cancel: dict[str, list[int]] = defaultdict(list)
    hold: list[int] = []
    local_day = clock.local_date(now)
    for o in risky:
        sp = sps[o.meter.supply_point_id]
        verdict, why = rules.send_verdict(
            o.kind,
            balance_cents=balances.get(sp.pk),
            limit_cents=sp.dso.emergency_credit_cents(sp.energy),
            energy=sp.energy,
            protected=sp.protected,
            instant=now,
            local_day=local_day,
            dso=sp.dso,
        )
        if verdict == rules.CANCEL:
            cancel[why].append(o.pk)
        elif verdict == rules.HOLD:
            hold.append(o.pk)
    for detail, ids in cancel.items():
        _finish(ids, OrderStatus.CANCELLED, now, detail)
    if hold:
        # Look again in a quarter of an hour; credit control re-decides at the window's start.
        Order.objects.filter(pk__in=hold).update(
            next_attempt_at=now + timedelta(minutes=15),
            updated_at=now,
            detail="held: outside the allowed interruption window",
        )
    skipped = {pk for ids in cancel.values() for pk in ids} | set(hold)
    return [o for o in orders if o.pk not in skipped]


def _display_values(supply_point_id: int) -> dict:
    """What 94.32.2 shows: 1 = last balance update, 2 = balance €, 3 = emergency credit €."""
    from solde.prepayment.models import PrepaymentAccount
    from solde.prepayment.services import balance_view

    account = (
        PrepaymentAccount.objects.filter(supply_point_id=supply_point_id)
        .select_related("supply_point__dso", "balance_account", "advance_account")
        .first()
    )
    if account is None:
        return {}
    view = balance_view(account)
    return {
        "updated_at": (view.last_update or clock.now()).isoformat(),
        "balance": format_eur(view.balance_cents),
        "emergency_credit": format_eur(view.emergency_credit_remaining_cents),
    }


def _expire(now: datetime) -> int:
    ids = list(
        Order.objects.filter(status__in=PENDING_STATUSES, expires_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    ids = _finish(
        ids, OrderStatus.EXPIRED, now, "no answer from the meter before the order expired"
    )
    if ids:
        log.warning("%d meter orders expired", len(ids))
    return len(ids)


@transaction.atomic
def expire_due(now: datetime | None = None) -> int:
    """Expire pending orders past their `expires_at`. Returns how many expired."""
    return _expire(now or clock.now())


# ---------------------------------------------------------------------------------------------
# Reconciliation and the sweep
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def reconcile(now: datetime | None = None) -> list[Order]:
    """Re-issue the order of each meter whose reported state drifted from the desired one
    while nothing is pending for it (at most once an hour per meter)."""
    now = now or clock.now()
    interval = timedelta(seconds=float(_setting("ORDERS_RECONCILE_SECONDS", 3600)))
    pending = Order.objects.filter(
        meter_id=OuterRef("meter_id"), kind__in=RELAY_KINDS, status__in=PENDING_STATUSES
    )
    relay_drift = ~Q(desired_relay=F("reported_relay")) & ~Q(
        desired_relay=Relay.CONNECTED, reported_relay=Relay.READY_FOR_RECONNECTION
    )
    limiter_drift = (
        Q(desired_limiter_amps__isnull=True, reported_limiter_amps__isnull=False)
        | Q(desired_limiter_amps__isnull=False, reported_limiter_amps__isnull=True)
        | (
            Q(desired_limiter_amps__isnull=False, reported_limiter_amps__isnull=False)
            & ~Q(desired_limiter_amps=F("reported_limiter_amps"))
        )
    )
    shadows = list(
        MeterShadow.objects.filter(reported_at__isnull=False)
        .filter(Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=now - interval))
        .filter(relay_drift | limiter_drift)
        .exclude(Exists(pending))
    )
    issued: list[Order] = []
    for sh in shadows:
        reason = (
            f"reconciliation: desired relay {sh.desired_relay}, limiter "
            f"{sh.desired_limiter_amps or 'none'}; reported {sh.reported_relay}, "
            f"{sh.reported_limiter_amps or 'none'}"
        )
        armed = (sh.desired_relay, sh.reported_relay) == (
            Relay.CONNECTED,
            Relay.READY_FOR_RECONNECTION,
        )
        if sh.desired_relay != sh.reported_relay and not armed:
            kind = (
                OrderKind.DISCONNECT
                if sh.desired_relay == Relay.DISCONNECTED
                else OrderKind.RECONNECT
            )
            issued.append(request_order(sh.meter_id, kind, reason))
        if sh.desired_limiter_amps != sh.reported_limiter_amps:
            if sh.desired_limiter_amps:
                issued.append(
                    request_order(
                        sh.meter_id,
                        OrderKind.LIMIT_POWER,
                        reason,
                        {"amps": sh.desired_limiter_amps},
                    )
                )
            else:
                issued.append(request_order(sh.meter_id, OrderKind.REMOVE_LIMIT, reason))
    MeterShadow.objects.filter(pk__in=[s.pk for s in shadows]).update(reconciled_at=now)
    return issued


def sweep(at: datetime | None = None) -> dict:
    """The every-minute job: expire, reconcile, then send what is due (retries included)."""
    now = clock.now()
    expired = expire_due(now)
    reissued = len(reconcile(now))
    sent = dispatch_due(now=now)
    return {"expired": expired, "reconciled": reissued, "sent": sent}


# ---------------------------------------------------------------------------------------------
# Answers from meters
# ---------------------------------------------------------------------------------------------


def _parse_at(value) -> datetime:
    if isinstance(value, datetime):
        return value
    if value:
        try:
            parsed = datetime.fromisoformat(str(value))
            if parsed.tzinfo is not None:
                return parsed
        except ValueError:
            pass
    return clock.now()


@transaction.atomic
def record_result(serial: str, payload: dict) -> str:
    """An acknowledgement or execution result from a meter, applied idempotently.

    Returns what happened: "unknown", "duplicate", "late", "acknowledged", "executed", "failed".
    """
    status = payload.get("status")
    at = _parse_at(payload.get("at"))
    try:
        order_id = int(payload["order_id"])
    except (KeyError, TypeError, ValueError):
        log.warning("result without a valid order id from meter %s: %r", serial, payload)
        return "unknown"
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("meter")
        .filter(pk=order_id)
        .first()
    )
    if order is None or order.meter.serial != serial:
        log.warning("result for unknown order %s from meter %s ignored", order_id, serial)
        return "unknown"
    if payload.get("state"):
        report_state(order.meter_id, payload["state"], at)
    now = clock.now()
    detail = str(payload.get("error") or "")[:300]
    if status not in ("acknowledged", "executed", "failed"):
        log.warning("result with unknown status %r for order %s ignored", status, order_id)
        return "unknown"
    if order.status in FINAL_STATUSES:
        if order.status in (OrderStatus.EXECUTED, OrderStatus.FAILED) or status == "acknowledged":
            return "duplicate"
        # Superseded, cancelled or expired: keep the status, record what the meter did.
        OrderEvent.objects.create(
            order=order,
            at=now,
            status=status,
            kind="late_result",
            detail=detail or f"meter reported {status} at {at.isoformat()}",
        )
        return "late"
    if status == "acknowledged":
        if order.status == OrderStatus.ACKNOWLEDGED:
            return "duplicate"
        order.status = OrderStatus.ACKNOWLEDGED
        order.acknowledged_at = now
        order.sent_at = order.sent_at or now
        order.updated_at = now
        order.save(update_fields=["status", "acknowledged_at", "sent_at", "updated_at"])
        OrderEvent.objects.create(order=order, at=now, status=status)
        return "acknowledged"
    order.status = status
    order.finished_at = now
    order.acknowledged_at = order.acknowledged_at or now
    order.sent_at = order.sent_at or now
    order.updated_at = now
    order.detail = detail
    order.save(
        update_fields=[
            "status",
            "finished_at",
            "acknowledged_at",
            "sent_at",
            "updated_at",
            "detail",
        ]
    )
    OrderEvent.objects.create(order=order, at=now, status=status, detail=detail)
    return status


@transaction.atomic
def record_event(serial: str, payload: dict) -> bool:
    """A meter event (button pressed, relay state). Returns False for an unknown meter."""
    from solde.registry.models import Meter

    meter_id = Meter.objects.filter(serial=serial).values_list("pk", flat=True).first()
    if meter_id is None:
        log.warning("event from unknown meter %s ignored", serial)
        return False
    if payload.get("state"):
        report_state(meter_id, payload["state"], _parse_at(payload.get("at")))
    return True


SUPPLY_EVENTS = {
    "disconnected": "supply_interrupted",
    "limited": "limiter_on",
    "ready_for_reconnection": "reconnection_ready",
}


def report_state(meter_id: int, state: dict, at: datetime) -> None:
    """Update the shadow's reported state (unless older than what we know), then the account's
    supply, publishing the customer's event when it changes. Runs in the caller's transaction."""
    shadow, _ = MeterShadow.objects.select_for_update().get_or_create(meter_id=meter_id)
    if shadow.reported_at and at < shadow.reported_at:
        return
    if "relay" in state and state["relay"] in Relay.values:
        shadow.reported_relay = state["relay"]
    if "limiter_amps" in state:
        shadow.reported_limiter_amps = state["limiter_amps"] or None
    if state.get("payment_mode"):
        shadow.reported_payment_mode = state["payment_mode"]
    if "display" in state and isinstance(state["display"], dict):
        shadow.reported_display = state["display"]
    shadow.reported_at = at
    shadow.save()
    if not shadow.reported_relay:
        return
    from solde.prepayment.models import PrepaymentAccount

    account = (
        PrepaymentAccount.objects.select_for_update()
        .filter(supply_point__meters__pk=meter_id)
        .first()
    )
    if account is None:
        return
    supply = rules.supply_state(shadow.reported_relay, shadow.reported_limiter_amps)
    if supply == account.supply:
        return
    PrepaymentAccount.objects.filter(pk=account.pk).update(supply=supply)
    if supply in SUPPLY_EVENTS:
        kind = SUPPLY_EVENTS[supply]
        publish_many(
            [
                (
                    kind,
                    account.supply_point_id,
                    f"{kind}:{account.pk}:{int(at.timestamp())}",
                    {"previous": account.supply, "supply": supply, "at": at.isoformat()},
                )
            ],
            at=at,
        )
