"""`solde serve`'s command line and the connection pool read from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management.base import CommandError

from solde.management.commands.serve import default_workers, server_argv


def test_workers_are_sized_from_the_cores():
    assert default_workers(2) == 3
    assert default_workers(8) == 9


@pytest.mark.parametrize("bind", ["8000", "127.0.0.1", "127.0.0.1:http", ""])
def test_a_bind_without_host_and_port_is_refused_with_an_example(bind):
    with pytest.raises(CommandError, match="HOST:PORT"):
        server_argv("gunicorn", bind, 3, 1)


def test_an_unknown_server_is_refused():
    with pytest.raises(CommandError, match="gunicorn, granian"):
        server_argv("uwsgi", "127.0.0.1:8000", 3, 1)


def test_both_servers_get_the_same_bind_workers_and_threads():
    g = server_argv("gunicorn", "127.0.0.1:8123", 5, 2)
    assert g[g.index("--bind") + 1] == "127.0.0.1:8123"
    assert g[g.index("--workers") + 1] == "5" and g[g.index("--threads") + 1] == "2"
    r = server_argv("granian", "127.0.0.1:8123", 5, 2)
    assert r[r.index("--host") + 1] == "127.0.0.1" and r[r.index("--port") + 1] == "8123"
    assert r[r.index("--workers") + 1] == "5" and r[r.index("--blocking-threads") + 1] == "2"


def _database_settings(**env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; "
        "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
        "'age': d['CONN_MAX_AGE']}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOLDE_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "solde.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_postgresql_gets_a_pool_sized_from_the_environment_and_no_persistent_connections():
    url = "postgres://solde@127.0.0.1:5432/solde"
    got = _database_settings(SOLDE_DATABASE_URL=url, SOLDE_DB_POOL_MIN="2", SOLDE_DB_POOL_MAX="7")
    assert got == {"pool": {"min_size": 2, "max_size": 7, "timeout": 10.0}, "age": 0}
    # Pool off (pgbouncer in front): the connection age is configurable, not hard-coded.
    got = _database_settings(
        SOLDE_DATABASE_URL=url, SOLDE_DB_POOL_MAX="0", SOLDE_DB_CONN_MAX_AGE="30"
    )
    assert got == {"pool": None, "age": 30}
