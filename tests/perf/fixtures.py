"""Helpers the benchmarks share: a fresh PostgreSQL database per benchmark, and the benchmark's
own module run in a subprocess on it (Django set up there, its JSON result read back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recreate_database(server: str, name: str) -> str:
    """Drop and create `name` on the server of `server` (a URL without the database name);
    returns the new database's URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def run_module(module: str, database_url: str, *args: str, **env: str) -> dict:
    """`python -m module args…` with Django's settings on `database_url`; the last line it
    prints is its JSON result. Raises with the end of its stderr when it fails."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={
            **os.environ,
            "SOLDE_DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "solde.settings",
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_on_fresh_database(pg_url: str, name: str, module: str, *args: str, **env: str) -> dict:
    """A fresh database `name` on the server of `pg_url`, then `module` run on it."""
    server, _, _ = pg_url.rpartition("/")
    return run_module(module, recreate_database(server, name), *args, **env)
