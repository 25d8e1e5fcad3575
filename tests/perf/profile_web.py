"""The per-request cost of the two benchmarked API calls, in-process (no web server).

`GET /api/v1/supply-points/{ean}/balance` and `POST /api/v1/topups` through Django's test
client (the whole middleware stack, django-ninja, the ORM) on the database of
SOLDE_DATABASE_URL, seeded as `bench_web` seeds its own (random accounts of N). Prints, for
each call, the queries one request makes and the mean/median milliseconds over many; with
`--profile`, the functions that cost the most (cProfile). The figure to compare before and
after a change; the load through the real server is `bench_web`'s.

    SOLDE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/solde_prof SOLDE_SIMULATION=1 \\
        python -m tests.perf.profile_web seed 100000 var/prof-seed.json
    SOLDE_DATABASE_URL=… SOLDE_SIMULATION=1 python -m tests.perf.profile_web run \\
        var/prof-seed.json [--profile]

On a copy of bench_web's database (`CREATE DATABASE … TEMPLATE solde_bench_web`),
`python -m tests.perf.profile_web keys var/prof-seed.json` makes the keys and the seed file.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import time
import uuid
from pathlib import Path


def _seed(n: int, out: Path) -> None:
    import subprocess

    subprocess.run([sys.executable, "-m", "solde", "migrate", "-v", "0"], check=True)
    from tests.perf.bench_web import _seed as seed

    seed(n, out)


def _keys(out: Path) -> None:
    """On a database already seeded by bench_web (e.g. a copy of it): new keys under this
    process's hash key, and the seed file `run` reads."""
    import django

    django.setup()
    from django.db import transaction

    from solde.api.keys import create_key
    from solde.registry.models import SupplyPoint
    from solde.topups.models import Partner

    tag = uuid.uuid4().hex[:6]
    with transaction.atomic():
        _, read_key = create_key(f"prof-read-{tag}", ["read"])
        partner_keys = []
        for i in range(5):
            key, plain = create_key(f"prof-partner-{tag}-{i}", ["topups"])
            Partner.objects.create(name=f"Prof partner {tag} {i}", channel="retail", api_key=key)
            partner_keys.append(plain)
    rows = list(SupplyPoint.objects.values_list("ean", "customer_reference"))
    out.write_text(
        json.dumps(
            {
                "eans": [e for e, _ in rows],
                "refs": [r for _, r in rows],
                "read_key": read_key,
                "partner_keys": partner_keys,
            }
        )
    )


def _run(seed_file: Path, profile: bool, count: int) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    seed = json.loads(seed_file.read_text())
    rng = random.Random(7)
    client = Client()
    read = "Bearer " + seed["read_key"]
    keys = seed["partner_keys"]
    run_id = uuid.uuid4().hex[:8]

    def balance(i: int):
        r = client.get(
            f"/api/v1/supply-points/{rng.choice(seed['eans'])}/balance",
            HTTP_AUTHORIZATION=read,
        )
        assert r.status_code == 200, r.content
        return r

    def topup(i: int):
        r = client.post(
            "/api/v1/topups",
            data=json.dumps(
                {
                    "reference": rng.choice(seed["refs"]),
                    "amount": "20.00",
                    "channel": "retail",
                    "partner_transaction_id": f"prof-{run_id}-{i}",
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer " + keys[i % len(keys)],
        )
        assert r.status_code == 201, r.content
        return r

    for name, call in (("balance", balance), ("topup", topup)):
        for i in range(50):  # warm-up: imports, the pool, the caches
            call(i)
        with CaptureQueriesContext(connection) as ctx:
            call(10_000)
        queries = ctx.captured_queries  # now: the next request clears the log
        times, cpu = [], []
        for i in range(count):
            t, c = time.perf_counter(), time.process_time()
            call(20_000 + i)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        times.sort()
        print(
            f"{name}: {len(queries)} queries; over {count} requests "
            f"wall median {statistics.median(times):.2f} ms (min {times[0]:.2f}, "
            f"p90 {times[int(0.9 * len(times))]:.2f}), this process's CPU "
            f"mean {statistics.fmean(cpu):.2f} ms (PostgreSQL's not counted)"
        )
        for q in queries:
            print(f"    {q['time']}s  {q['sql'][:160]}")
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            for i in range(count):
                call(40_000 + i)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(45)
            print(out.getvalue())


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        _seed(int(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:2] == ["keys"]:
        _keys(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["run"]:
        _run(Path(sys.argv[2]), "--profile" in sys.argv, 300)
    else:
        sys.exit(__doc__)
