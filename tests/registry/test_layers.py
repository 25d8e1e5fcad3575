"""The registry is the base app: it imports none of the apps built on it (they listen to its
signals and call its services). A scan of every import statement of its modules, migrations
included."""

from __future__ import annotations

import ast
from pathlib import Path

import solde.registry

ABOVE = {
    "api",
    "demo",
    "headend",
    "ledger",
    "notifications",
    "orders",
    "phoneline",
    "portal",
    "prepayment",
    "readings",
    "settlement",
    "topups",
}


def imported_apps(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "solde" and len(parts) > 1 and parts[1] in ABOVE:
                found.add(parts[1])
    return found


def test_registry_imports_no_app_above_it():
    root = Path(solde.registry.__file__).parent
    offenders = {
        str(path.relative_to(root)): apps
        for path in sorted(root.rglob("*.py"))
        if (apps := imported_apps(path.read_text()))
    }
    assert offenders == {}


def test_the_scan_sees_a_lazy_import_inside_a_function():
    # The fault the scan must catch: the old admin opened accounts with a function-level import.
    planted = "def save():\n    from solde.prepayment.services import open_account\n"
    assert imported_apps(planted) == {"prepayment"}
    assert imported_apps("from solde import topups\n") == {"topups"}
    assert imported_apps("from solde.registry.models import Meter\n") == set()
