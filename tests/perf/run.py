"""`make bench`: run every tests/perf/bench_*.py and write BENCHMARKS.md.

Each benchmark module has `run(pg_url: str) -> str` returning a Markdown section (its own
heading, what it measured, the numbers and the baseline it is compared against in the same run).
`SOLDE_BENCH_SCALE` (default 1.0) shrinks the sizes for a quick check; the file says which.
`SOLDE_BENCH_ONLY=ingest,close` runs only those modules and replaces only their sections (matched
by heading) in the existing BENCHMARKS.md, so a quiet re-run of one benchmark keeps the others.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{pg or 'psql not found'}"
    )


def merged(fresh: list[str]) -> list[str]:
    """The existing file's sections with those of the same heading replaced by `fresh`."""
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text().split("\n## ")[1:] if path.exists() else []
    kept = ["## " + s.strip() for s in old]
    for section in fresh:
        heading = section.strip().splitlines()[0]
        at = [i for i, s in enumerate(kept) if s.splitlines()[0] == heading]
        if at:
            kept[at[0]] = section.strip()
        else:
            kept.append(section.strip())
    return kept


def stamped(section: str) -> str:
    """The section with when and where it was measured under its heading: a partial run
    (`SOLDE_BENCH_ONLY`) keeps sections measured on other days, maybe on another machine."""
    heading, _, rest = section.strip().partition("\n")
    when = f"Measured on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}."
    return f"{heading}\n\n{when}\n{rest}"


def main() -> None:
    pg_url = os.environ.get("SOLDE_PG_URL", "postgres://postgres@127.0.0.1:5432/solde")
    scale = float(os.environ.get("SOLDE_BENCH_SCALE", "1"))
    only = {s for s in os.environ.get("SOLDE_BENCH_ONLY", "").split(",") if s}
    modules = sorted(p.stem for p in (ROOT / "tests" / "perf").glob("bench_*.py"))
    sections = []
    for name in modules:
        short = name.removeprefix("bench_")
        if only and short not in only:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        mod = importlib.import_module(f"tests.perf.{name}")
        sections.append(stamped(mod.run(pg_url)))
        print(f"   done in {time.perf_counter() - started:.0f} s", flush=True)
    if only:
        sections = merged(sections)
    header = (
        "# Benchmarks\n\n"
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"
        f"Machine: {machine()}.\n"
        + (f"Scale: {scale} (sizes shrunk; not the targets' sizes).\n" if scale != 1 else "")
        + (
            f"This run re-measured {', '.join(sorted(only))}; the other sections are from "
            "earlier runs (`SOLDE_BENCH_ONLY`), each says when and on which machine.\n"
            if only
            else ""
        )
    )
    (ROOT / "BENCHMARKS.md").write_text(header + "\n" + "\n\n".join(sections) + "\n")
    print("BENCHMARKS.md written")


if __name__ == "__main__":
    sys.exit(main())
