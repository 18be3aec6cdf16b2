"""The local flow's throughput: workers forked from the pre-imported server
(``local/forkserver.py``) against a fresh interpreter per task, same run.

Two workloads, each in both modes:

- **volume**: the 300 uploads across three processors of ``tests/test_local.py``'s
  volume test (the same template and keys, ``VOLUME`` and ``volume_plan`` here), played
  with 2 tasks at a time; uploads/s counts from the stack's deployment to the last
  result, as the test does;
- **demo**: ``make demo``'s command exactly, its summary line's phases (emulator,
  stack, uploads to results).

Writes the "Local flow" section of BENCHMARKS.md.

    python -m bench.local [--repeats 3] [--uploads 300]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from private_s3_processor_cli.local.emulator import moto_server
from private_s3_processor_cli.local.forked import FRESH
from private_s3_processor_cli.local.session import deploy

from bench.worker import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
DEMO = ["build/example.yaml", "--upload", "examples/samples"]

VOLUME = """
Transform: PrivateS3Processor
Resources:
  Alpha:
    Type: PrivateS3Processor
    Properties: {Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1, Prefix: a/,
                 OutputPrefix: out/}
  Beta:
    Type: PrivateS3Processor
    Properties: {Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1, Prefix: x/,
                 Suffix: .b, OutputPrefix: done/}
  Gamma:
    Type: PrivateS3Processor
    Properties: {Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1, Prefix: c/,
                 Suffix: .c, OutputPrefix: c-out/,
                 Environment: {PROCESSOR: "tests.worker_processors:echo_environment"}}
"""


def volume_plan(uploads: int = 300) -> list[tuple[str, str, str | None]]:
    """(processor whose bucket gets it, key, the processor expected to run or None):
    awkward keys, and one in five that does not match its bucket's processor."""
    plan: list[tuple[str, str, str | None]] = []
    for i in range(uploads):
        name = ("Alpha", "Beta", "Gamma")[i % 3]
        if i % 5 == 4:
            key = {"Alpha": f"b/{i}.txt", "Beta": f"x/{i}.bb", "Gamma": f"c/{i}.cc"}[name]
            plan.append((name, key, None))
        else:
            key = {"Alpha": f"a/{i} ü.txt", "Beta": f"x/{i}+y.b", "Gamma": f"c/{i}=(z).c"}[name]
            plan.append((name, key, name))
    return plan


def quiet(message: str) -> None:
    del message


def volume(uploads: int) -> dict[str, Any]:
    """One volume run in this process's mode (FRESH set or not)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "three.yaml").write_text(VOLUME)
        body = tmp_path / "body.txt"
        body.write_text("line\n")
        with moto_server(tmp_path / "moto.log") as endpoint:
            started = time.monotonic()
            with deploy(endpoint, tmp_path / "three.yaml", {}, quiet, concurrency=2) as session:
                deployed = time.monotonic()
                for name, key, _ in volume_plan(uploads):
                    session.upload(body, key, session.processors[name])
                    session.dispatch()
                session.settle()
            ended = time.monotonic()
            rows = session.results()
    processed = [r for r in rows if r.exit_code == 0]
    expected = sum(1 for *_, e in volume_plan(uploads) if e)
    if len(processed) != expected:
        raise SystemExit(f"bench.local: {len(processed)} of {expected} uploads processed")
    return {
        "total_s": ended - started,
        "flow_s": ended - deployed,
        "uploads_per_s": uploads / (ended - started),
        "worker_s": statistics.median(r.duration_s for r in processed if r.duration_s),
    }


SUMMARY = re.compile(
    r"; (?P<total>[\d.]+)s \(emulator (?P<emulator>[\d.]+)s, stack (?P<stack>[\d.]+)s, "
    r"uploads to results (?P<flow>[\d.]+)s\)"
)


def demo(env: dict[str, str]) -> dict[str, float]:
    """``make demo``'s command, its summary's figures."""
    run = subprocess.run(
        [str(Path(sys.executable).parent / "private-s3-processor"), "local", *DEMO],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    found = SUMMARY.search(run.stdout)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"bench.local: the demo failed: {run.stdout[-500:]}{run.stderr[-500:]}")
    return {name: float(value) for name, value in found.groupdict().items()}


def measure(repeats: int, uploads: int) -> dict[str, dict[str, Any]]:
    subprocess.run([sys.executable, "template.py"], cwd=ROOT, check=True, capture_output=True)
    results: dict[str, dict[str, Any]] = {}
    for mode in ("fresh", "forked"):
        if mode == "fresh":
            os.environ[FRESH] = "1"
        else:
            os.environ.pop(FRESH, None)
        env = dict(os.environ)
        demos = [demo(env) for _ in range(repeats)]
        runs = [volume(uploads) for _ in range(max(1, repeats // 2))]
        results[mode] = {
            "demo": {k: statistics.median(d[k] for d in demos) for k in demos[0]},
            "volume": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
            "volume_runs": len(runs),
        }
    os.environ.pop(FRESH, None)
    return results


def section(r: dict[str, dict[str, Any]], command: str, repeats: int, uploads: int) -> str:
    before, after = r["fresh"], r["forked"]
    rows = [
        ("volume: uploads/s", "uploads_per_s", "volume", "{:.1f}"),
        ("volume: total s", "total_s", "volume", "{:.1f}"),
        ("volume: uploads to results s", "flow_s", "volume", "{:.1f}"),
        ("volume: worker run, median s", "worker_s", "volume", "{:.2f}"),
        ("demo: total s", "total", "demo", "{:.1f}"),
        ("demo: emulator s", "emulator", "demo", "{:.1f}"),
        ("demo: stack s", "stack", "demo", "{:.1f}"),
        ("demo: uploads to results s", "flow", "demo", "{:.1f}"),
    ]
    lines = [
        "## Local flow: fresh interpreters against the fork server",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}; the moto server "
        "and the flow run on the same cores.",
        "",
        f"*volume*: {uploads} uploads across three processors (the volume test's template and "
        "keys; one in five matches no processor), 2 tasks at a time, timed as the test does: "
        "from the start of the stack's deployment to the last result (*uploads to results*: "
        f"from the stack created); median of {after['volume_runs']} run(s). *demo*: "
        f"`make demo`'s command as typed, the phases its summary line prints; median of "
        f"{repeats} runs. *before*: every task's worker a fresh `python -m private_s3_worker` "
        f"(`{FRESH}=1`); *after*: forked from the pre-imported server (the default).",
        "",
        "| figure | before (fresh) | after (forked) | after / before |",
        "|---|---:|---:|---:|",
    ]
    for label, key, workload, fmt in rows:
        b, a = before[workload][key], after[workload][key]
        lines.append(
            f"| {label} | {fmt.format(b)} | {fmt.format(a)} | {a / b:.2f} |"
            if b
            else f"| {label} | {fmt.format(b)} | {fmt.format(a)} | — |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=300)
    args = parser.parse_args()
    results = measure(args.repeats, args.uploads)
    command = (
        "python -m bench.local"
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
        + (f" --uploads {args.uploads}" if args.uploads != 300 else "")
    )
    text = section(results, command, args.repeats, args.uploads)
    write_section(text, "local")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
