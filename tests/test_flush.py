"""The test suite's flush survives a deadlock with a request still running (tests/conftest.py)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management.color import no_style
from django.db import connection, connections

from solde.registry.models import Dso, Supplier
from tests.conftest import on_postgres


@pytest.mark.django_db(transaction=True)
def test_a_flush_cancelled_by_a_deadlock_is_done_again():
    """A reader holds one table and then asks for the one the TRUNCATE took first: PostgreSQL
    cancels the TRUNCATE; the flush waits for the reader and empties both tables."""
    if not on_postgres():
        pytest.skip("the deadlock is PostgreSQL's; SQLite has one writer")
    Supplier.objects.create(code="S", name="S")
    tables = [Supplier._meta.db_table, Dso._meta.db_table]  # TRUNCATE locks them in this order
    holding = threading.Event()

    def reader():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(f"SELECT count(*) FROM {tables[1]}")
                holding.set()
                time.sleep(0.5)  # the TRUNCATE now holds the first and waits for the second
                cur.execute(f"SELECT count(*) FROM {tables[0]}")
                cur.execute("COMMIT")
        finally:
            other.close()

    thread = threading.Thread(target=reader)
    thread.start()
    holding.wait(5)
    sql = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    connection.ops.execute_sql_flush(sql)
    thread.join(10)
    assert not Supplier.objects.exists() and not Dso.objects.exists()
