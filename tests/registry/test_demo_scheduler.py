"""`solde demo`'s background scheduler: it reaches back over the seeded days and a failing job
never stops it (the web server keeps serving)."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

from solde.management.commands import demo


def test_scheduler_survives_a_failing_run_and_keeps_ticking(monkeypatch, caplog):
    calls: list[timedelta] = []
    stop = threading.Event()

    def run_due(first_run_lookback: timedelta) -> int:
        calls.append(first_run_lookback)
        if len(calls) == 1:
            raise RuntimeError("the close fell over")
        if len(calls) == 3:
            stop.set()
        return 0

    monkeypatch.setattr("solde.schedule.run_due", run_due)
    monkeypatch.setattr(demo, "close_old_connections", lambda: None)
    monkeypatch.setattr(demo, "connection", SimpleNamespace(close=lambda: None))
    worker = threading.Thread(
        target=demo.scheduler_loop, args=(stop, timedelta(days=61)), kwargs={"tick": 0.01}
    )
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert calls == [timedelta(days=61)] * 3
    assert "Scheduled work failed" in caplog.text
