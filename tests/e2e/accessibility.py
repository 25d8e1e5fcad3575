"""axe-core (npm, tests/e2e/axe, installed by `make venv`) injected into a Playwright page:
the WCAG 2.1 A and AA rules, every violation listed with its nodes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require

AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page) -> list[dict]:
    require("axe-core (make venv installs it with npm)", AXE_JS.exists())
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary)}))",
        WCAG21_AA,
    )


def assert_accessible(page, where: str) -> None:
    found = violations(page)
    assert not found, f"axe-core WCAG 2.1 AA violations on {where}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in found
    )
