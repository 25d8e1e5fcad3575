"""Two workers at once on PostgreSQL: every event rendered once, every message sent once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from solde.notifications import services
from solde.notifications.events import publish_many
from solde.notifications.models import Event, Message
from tests.conftest import on_postgres


def _in_threads(fn, n: int = 2) -> list:
    results, errors = [], []
    barrier = threading.Barrier(n)

    def work():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_workers_render_and_send_each_message_once(frozen, customer_sp, smtp_server):
    if not on_postgres():
        pytest.skip("row locks with SKIP LOCKED: the PostgreSQL pass runs this")
    sps = [customer_sp() for _ in range(6)]
    publish_many(
        [
            ("low_credit", sp.pk, f"low:{sp.pk}:{i}", {"balance_cents": 800})
            for sp in sps
            for i in range(10)
        ]
    )

    created = _in_threads(services.render_events)
    assert sum(created) == Message.objects.count() == 60
    assert not Event.objects.filter(handled_at__isnull=True).exists()

    sent = _in_threads(services.send_due)
    assert sum(r["sent"] for r in sent) == 60
    ids = sorted(m["X-Solde-Message"] for _, m in smtp_server.messages)
    assert len(ids) == 60 and len(set(ids)) == 60
