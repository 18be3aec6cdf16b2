"""The test suite as `make test` runs it (after lint): its wall time on every core, the
CPU it spends, and its longest tests. Writes the "Test suite" section of BENCHMARKS.md.

The CPU total is what bounds the wall time from below: no schedule on N cores ends
before CPU / N. ``--serial`` adds a run on one worker, for the before/after ratio.

    python -m bench.suite [--serial]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.worker import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
# The Makefile's test recipe, without its environment and lint prerequisites.
PARALLEL = ["-q", "-n", "auto", "--dist", "loadscope"]
LONGEST = 10


def run(args: list[str]) -> dict[str, Any]:
    """One run of the suite: wall seconds, CPU seconds of every process it started, the
    summary line and the longest tests."""
    env = dict(os.environ, TOOLS_VENV=os.environ.get("TOOLS_VENV", ".venv-tools"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "--durations", "25"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # pytest's last line: "2137 passed, 5 skipped, 1 xfailed in 558.62s" (failures are
    # counted there too, and the section shows them as they are).
    summary = re.findall(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*) in [\d.]+s", done.stdout, re.MULTILINE)
    if not summary:
        raise SystemExit(f"bench.suite: the suite did not run:\n{done.stdout[-3000:]}")
    durations = [
        (float(seconds), phase, test)
        for seconds, phase, test in re.findall(
            r"^([\d.]+)s (call|setup|teardown) +(\S+)", done.stdout, flags=re.MULTILINE
        )
    ]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "summary": summary[-1].strip(" ="),
        "longest": sorted(durations, reverse=True)[:LONGEST],
    }


def section(runs: dict[str, dict[str, Any]], command: str) -> str:
    cores = os.cpu_count() or 1
    lines = [
        "## Test suite: `make test`'s pytest run",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}. The environment "
        "was installed (a warm run). *CPU*: user+sys of every process the run started "
        f"(pytest's workers, the emulators, the workers they start, the tools); "
        f"*floor*: CPU / {cores} cores, the least wall time any schedule could reach.",
        "",
        "| run | wall | CPU | floor | tests |",
        "|---|---:|---:|---:|---|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s | {r['cpu_s'] / cores:.0f} s "
            f"| {r['summary']} |"
        )
    parallel = runs["parallel (make test)"]
    lines += [
        "",
        f"The {LONGEST} longest test phases of the parallel run:",
        "",
        "| seconds | phase | test |",
        "|---:|---|---|",
    ]
    lines += [f"| {s:.1f} | {phase} | `{test}` |" for s, phase, test in parallel["longest"]]
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serial", action="store_true", help="also run on one worker")
    args = parser.parse_args()
    runs = {"parallel (make test)": run(PARALLEL)}
    if args.serial:
        runs["serial"] = run(["-q"])
    command = "python -m bench.suite" + (" --serial" if args.serial else "")
    text = section(runs, command)
    write_section(text, "suite")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
