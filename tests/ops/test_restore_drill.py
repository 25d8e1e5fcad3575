"""The restore drill (deploy/restore-drill.sh, `make restore-drill`): a pg_dump restored into a
scratch database passes `solde ledger verify` and has the source's balances — and the drill
fails when the ledger or the balances are wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction

from solde.ledger.models import LedgerAccount, TransactionKind
from solde.ledger.services import collections_account
from solde.prepayment.models import PrepaymentAccount
from solde.prepayment.services import activate, credit
from tests.conftest import on_postgres, require

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "restore-drill.sh"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only(db):
    if not on_postgres():
        pytest.skip("pg_dump and pg_restore: the PostgreSQL pass runs this")
    for tool in ("pg_dump", "pg_restore", "psql"):
        require(tool, shutil.which(tool) is not None)


def _url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.fixture
def seeded(make_supply_point, at):
    """A few active accounts with top-ups, committed (the dump sees them)."""
    for i in range(3):
        sp = make_supply_point()
        with transaction.atomic():
            activate({sp.pk: at("2026-11-20 00:00")})
            credit(
                PrepaymentAccount.objects.get(supply_point=sp),
                1500 + i,
                key=f"drill-{i}",
                kind=TransactionKind.TOPUP,
                counter_account_id=collections_account("retail").pk,
                at=at("2026-11-25 10:00"),
            )
    return connection.settings_dict["NAME"]


@pytest.fixture
def scratch():
    name = f"{connection.settings_dict['NAME']}_drill_{uuid.uuid4().hex[:8]}"
    yield _url(name)
    with connection.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _dump(source: str, folder: Path) -> Path:
    dump = folder / "solde.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), _url(source)], check=True, timeout=120)
    return dump


def _drill(*args: str) -> subprocess.CompletedProcess:
    # The drill on test data: the demo's settings (a real drill runs with production's).
    env = {
        "PATH": "/usr/bin:/bin",
        "SOLDE": str(Path(sys.executable).parent / "solde"),
        "SOLDE_DEMO": "1",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_a_dump_restores_with_a_sound_ledger_and_the_same_balances(seeded, scratch, tmp_path):
    dump = _dump(seeded, tmp_path)
    result = _drill(str(dump), scratch, _url(seeded))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ledger OK" in result.stdout and "Balances identical" in result.stdout

    # The source moves on after the dump (or the dump lost a row): the drill must see it.
    acc = LedgerAccount.objects.exclude(kind="collections").exclude(balance_cents=0).first()
    LedgerAccount.objects.filter(pk=acc.pk).update(balance_cents=acc.balance_cents + 1)
    result = _drill(str(dump), scratch, _url(seeded))
    assert result.returncode != 0
    assert "balances differ" in result.stderr


def test_a_corrupt_ledger_in_the_dump_fails_the_drill(seeded, scratch, tmp_path):
    acc = LedgerAccount.objects.exclude(kind="collections").exclude(balance_cents=0).first()
    LedgerAccount.objects.filter(pk=acc.pk).update(balance_cents=acc.balance_cents + 100)
    dump = _dump(seeded, tmp_path)
    result = _drill(str(dump), scratch)
    assert result.returncode != 0
    assert "wrong stored balance" in result.stderr and "passed" not in result.stdout


def test_the_drill_refuses_to_drop_its_source(seeded, tmp_path):
    dump = _dump(seeded, tmp_path)
    result = _drill(str(dump), _url(seeded), _url(seeded))
    assert result.returncode != 0 and "refusing" in result.stderr
    assert LedgerAccount.objects.exists()  # still there
