"""/metrics: only for the token or the allowed addresses; the domain's figures as they are in
the database; the alerting rules refer to metrics that exist."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from solde import clock

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "solde-alerts.yml"
TOKEN = "metrics-token-for-the-test-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["192.0.2.0/24"]


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_refuse_strangers(client, db, metrics_on):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.15").status_code == 200
    ok = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/plain")


def test_metrics_are_closed_when_not_configured(client, db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_count_the_domain(client, metrics_on, make_supply_point, frozen):
    from django.db import transaction

    from solde.notifications.models import Event, Message
    from solde.orders.models import Order
    from solde.prepayment.models import CloseRun
    from solde.prepayment.services import activate
    from solde.readings.models import Reading, RejectedReading
    from solde.topups import services as topups

    sps = [make_supply_point() for _ in range(3)]
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=1) for sp in sps[:2]})
    now = clock.now()
    meter = sps[0].meters.first()
    Reading.objects.bulk_create(
        [
            Reading(meter=meter, register="1.8.1", at=now - timedelta(hours=h), value_milli=h)
            for h in range(1, 5)
        ]
    )
    for i, reason in enumerate(["unknown_ean", "unknown_ean", "future"]):
        RejectedReading.objects.create(received_at=now, row_index=i, reason=reason, detail="x")
    CloseRun.objects.create(
        day=now.date() - timedelta(days=1),
        started_at=now - timedelta(seconds=42),
        finished_at=now,
        closed=2,
        waiting_for_data=1,
    )
    sps[0].account.refresh_from_db()
    topups.credit_topup(sps[0].account, 2000, channel="retail", external_id="r1")
    topups.credit_topup(sps[0].account, 3050, channel="retail", external_id="r2")
    Order.objects.create(
        meter=meter,
        kind="disconnect",
        status="sent",
        created_at=now - timedelta(minutes=30),
        updated_at=now,
        sent_at=now - timedelta(minutes=25),
    )
    Order.objects.create(
        meter=meter, kind="reconnect", status="executed", created_at=now, updated_at=now
    )
    event = Event.objects.create(kind="low_credit", key="k", supply_point=sps[0], occurred_at=now)
    Message.objects.create(
        event=event,
        customer=sps[0].customer,
        channel="sms",
        recipient="+32470123456",
        language="fr",
        subject="",
        body="b",
        status="failed",
        created_at=now,
    )

    from solde.models import WorkItem

    for key, status, due in [
        ("w-due", "pending", now - timedelta(minutes=7)),
        ("w-later", "pending", now + timedelta(minutes=30)),  # a retry waiting for its backoff
        ("w-dead", "dead", now - timedelta(hours=5)),
        ("w-done", "done", now - timedelta(hours=9)),
    ]:
        WorkItem.objects.create(
            kind="credit.decide",
            key=key,
            group=key,
            status=status,
            next_attempt_at=due,
            created_at=now - timedelta(hours=10),
            updated_at=now,
        )

    m = scrape(client)
    assert m[("solde_outbox_lag_seconds", (("outbox", "work"),))] == 7 * 60
    assert m[("solde_work_dead_items", ())] == 1
    # the highest id handed out: on PostgreSQL this test's session drew its ids 32 at a time
    highest = Reading.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert highest <= m[("solde_readings_accepted_total", ())] < highest + 32
    assert m[("solde_readings_rejected_total", (("reason", "unknown_ean"),))] == 2
    assert m[("solde_readings_rejected_total", (("reason", "future"),))] == 1
    assert m[("solde_close_last_duration_seconds", ())] == 42
    assert m[("solde_close_last_accounts", (("outcome", "closed"),))] == 2
    assert m[("solde_close_last_accounts", (("outcome", "waiting_for_data"),))] == 1
    assert m[("solde_topups_total", (("channel", "retail"),))] == 2
    assert m[("solde_topups_euros_total", (("channel", "retail"),))] == 50.50
    assert m[("solde_orders", (("kind", "disconnect"), ("status", "sent")))] == 1
    assert m[("solde_orders_oldest_unacknowledged_age_seconds", ())] == 25 * 60
    assert m[("solde_supply_changes_total", (("change", "reconnect"),))] == 1
    assert m[("solde_supply_changes_total", (("change", "disconnect"),))] == 0
    assert m[("solde_messages", (("channel", "sms"), ("status", "failed")))] == 1
    assert m[("solde_outbox_lag_seconds", (("outbox", "events"),))] == 0  # just published
    active = (("credit_state", "ok"), ("state", "active"), ("supply", "connected"))
    pending = (("credit_state", "ok"), ("state", "pending"), ("supply", "connected"))
    assert m[("solde_accounts", active)] == 2
    assert m[("solde_accounts", pending)] == 1


def test_alerting_rules_are_well_formed_and_use_real_metrics(db):
    rules = yaml.safe_load(RULES.read_text())
    assert set(rules) == {"groups"}
    names = [g["name"] for g in rules["groups"]]
    assert len(names) == len(set(names)) and names
    from solde.metrics import DomainCollector

    exported = {"up"}
    for family in DomainCollector().collect():  # every family, with or without samples
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    alerts = set()
    for group in rules["groups"]:
        assert set(group) == {"name", "rules"}
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] not in alerts
            alerts.add(rule["alert"])
            assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
            assert rule["labels"]["severity"] in {"page", "ticket"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"])
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")"), expr
            used = set(re.findall(r"\b(solde_[a-z_]+|up)\b", expr))
            assert used and used <= exported, (rule["alert"], used - exported)


def test_allowed_address_is_the_client_behind_a_trusted_proxy(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["192.0.2.0/24"]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    via_proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.4, 192.0.2.9"}
    assert client.get("/metrics", **via_proxy).status_code == 200
    # The same header from a stranger is dropped: its own address counts.
    forged = {"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}
    assert client.get("/metrics", **forged).status_code == 403
    # A client address spoofed to the left of the proxy's own entry does not help either.
    spoofed = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.9, 198.51.100.4"}
    assert client.get("/metrics", **spoofed).status_code == 403
