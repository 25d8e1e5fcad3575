"""What docs/operations.md and deploy/ promise: the systemd units are valid, the configuration
reference names every SOLDE_* variable the code reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("solde*.*"))
VARIABLE = re.compile(r"\bSOLDE_[A-Z0-9_]*[A-Z0-9]_?")


def variables_in(text: str) -> set[str]:
    return set(VARIABLE.findall(text))


def test_every_solde_variable_the_code_reads_is_documented():
    in_code: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        in_code |= variables_in(path.read_text())
    documented = variables_in((ROOT / "docs" / "operations.md").read_text())
    assert "SOLDE_SECRET_KEY" in in_code and "SOLDE_TWILIO_AUTH_TOKEN" in in_code
    missing = sorted(in_code - documented)
    assert not missing, f"not in docs/operations.md's configuration reference: {missing}"


def test_the_reference_check_catches_an_undocumented_variable():
    documented = variables_in((ROOT / "docs" / "operations.md").read_text())
    planted = variables_in('os.environ.get("SOLDE_SOMETHING_NEW")') | {"SOLDE_ANYMAIL_"}
    assert planted - documented == {"SOLDE_SOMETHING_NEW"}


def test_the_env_template_only_sets_documented_variables():
    documented = variables_in((ROOT / "docs" / "operations.md").read_text())
    template = variables_in((ROOT / "deploy" / "solde.env.example").read_text())
    template = {v for v in template if not v.startswith("SOLDE_ANYMAIL_")}
    assert template and template <= documented


def test_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not on this machine")
    assert {u.name for u in UNITS} == {
        "solde-web.service",
        "solde-worker.service",
        "solde-headend.service",
        "solde.target",
    }
    # The units name the installed paths; here the virtualenv's `solde` and a scratch env file
    # stand in for /opt/solde and /etc/solde, so systemd checks the rest as written.
    solde = Path(sys.executable).parent / "solde"
    env = tmp_path / "solde.env"
    env.write_text("SOLDE_SECRET_KEY=x\n")
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        text = text.replace("/opt/solde/venv/bin/solde", str(solde))
        text = text.replace("/etc/solde/solde.env", str(env))
        (tmp_path / unit.name).write_text(text)
        copies.append(str(tmp_path / unit.name))
    result = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60
    )
    # Warnings (an unknown key, a missing binary) are errors here.
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
    commands = {
        u.name: re.search(r"^ExecStart=(.*)$", u.read_text(), re.M).group(1) for u in UNITS[:-1]
    }
    assert commands == {
        "solde-headend.service": "/opt/solde/venv/bin/solde headend listen",
        "solde-web.service": "/opt/solde/venv/bin/solde serve",
        "solde-worker.service": "/opt/solde/venv/bin/solde qcluster",
    }
