"""Accessibility checks in the browser tests: axe-core (from the npm registry, pinned by
tests/e2e/package-lock.json, installed by `make e2e-tools`) injected into the page by
Playwright. Shared by the portal's and the console's browser tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import require

AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# The European web accessibility directive points to EN 301 549, i.e. WCAG 2.1 level AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page, tags: list[str] | None = None) -> list[dict]:
    """Run axe-core on the page as it is now; the violations of the WCAG 2.1 AA rules."""
    require("axe-core (make e2e-tools)", AXE_JS.exists())
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol: the page's Content Security Policy refuses inline scripts.
        page.evaluate(AXE_JS.read_text())
    options = {
        "runOnly": {"type": "tag", "values": tags or WCAG_21_AA},
        "resultTypes": ["violations"],
    }
    result = page.evaluate("options => window.axe.run(document, options)", options)
    return result["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"][:5]:
            why = node["failureSummary"].splitlines()[-1].strip()
            lines.append(f"    {', '.join(node['target'])}: {why}")
    return "\n".join(lines)


def assert_no_axe_violations(page, tags: list[str] | None = None) -> None:
    """Fail with every WCAG 2.1 AA violation axe-core finds on the page (rule, element, why)."""
    violations = axe_violations(page, tags)
    if violations and os.environ.get("SOLDE_AXE_JSON"):
        Path(os.environ["SOLDE_AXE_JSON"]).write_text(json.dumps(violations, indent=2))
    assert not violations, f"{page.url}:\n{describe(violations)}"
