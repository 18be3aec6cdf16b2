"""Delivery under load: N uploads through the local flow while a share of launches fail
like ``failures[]`` and like throttling, in each delivery mode; then ``redrive``.

Writes the "Delivery" section of BENCHMARKS.md (the README quotes it). The processor
runs in ``Mode: Test`` (a shell command, exit 0) so the run measures delivery, not the
worker; retry waits are scaled by TIME_SCALE. ``tests/test_delivery.py`` runs the same
scenario and checks that the counts add up.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from private_s3_processor_cli.local.emulator import moto_server
from private_s3_processor_cli.local.launches import LaunchFaults
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.redrive import locate, redrive

from bench.worker import machine, write_section

TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Load:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Prefix: in/
      Mode: Test
      Delivery: {delivery}
"""
TIME_SCALE = 0.001
OUTCOMES = ("processed", "dead-lettered", "lost")


@dataclass
class Result:
    delivery: str
    uploads: int
    failures: float
    throttling: float
    seed: int
    first: Counter[str] = field(default_factory=Counter)  # outcome -> uploads
    after: Counter[str] = field(default_factory=Counter)  # after redrive
    attempts: Counter[str] = field(default_factory=Counter)  # launch attempts by fault
    resubmitted: int = 0
    runs: int = 0  # worker runs in all
    seconds: float = 0.0
    redrive_seconds: float = 0.0


def scenario(
    endpoint: str,
    delivery: str,
    folder: Path,
    *,
    uploads: int = 1000,
    failures: float = 0.3,
    throttling: float = 0.3,
    seed: int = 1,
    concurrency: int = 4,
) -> Result:
    template = folder / f"load-{delivery}.yaml"
    template.write_text(TEMPLATE.format(delivery=delivery))
    body = folder / "body.txt"
    body.write_text("a,b\n1,2\n")
    result = Result(delivery, uploads, failures, throttling, seed)
    started = time.monotonic()
    faults = LaunchFaults(failures, throttling, seed)
    with deploy(
        endpoint,
        template,
        {},
        lambda message: None,
        concurrency=concurrency,
        faults=faults,
        time_scale=TIME_SCALE,
    ) as session:
        target = session.processors["Load"]
        for i in range(uploads):
            session.upload(body, f"in/{i:05d}.txt", target)
            if i % 25 == 0:
                session.dispatch()
        session.settle()
        result.seconds = time.monotonic() - started
        result.first = Counter(r.outcome for r in session.results())
        result.attempts = Counter(faults.drawn)
        # The outage is over: launches work again; redrive what the queues hold.
        session.faults = LaunchFaults(seed=seed)
        started = time.monotonic()
        report = redrive(session.aws, locate(session.aws, session.stack, "Load"), wait_s=0)
        result.resubmitted = report.resubmitted
        session.adopt()
        session.settle()
        result.redrive_seconds = time.monotonic() - started
        rows = session.results()
        result.after = Counter(r.outcome for r in rows)
        result.runs = sum(r.runs for r in rows)
    return result


def table(results: list[Result], command: str) -> str:
    lines = [
        "## Delivery under load",
        "",
        f"`{command}` on {machine()}. Each mode: {results[0].uploads} uploads through "
        f"`private-s3-processor local`; {results[0].failures:.0%} of launch attempts answer "
        f"200 with `failures[]` and {results[0].throttling:.0%} are throttled (seed "
        f"{results[0].seed}; concurrent launches draw in a varying order, so counts move by "
        f"a few between runs); retry waits scaled by {TIME_SCALE}. Then the faults stop and "
        "`redrive` runs on the processor's dead-letter queue.",
        "",
        "| | " + " | ".join(r.delivery for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, values: list[Any]) -> None:
        lines.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")

    for outcome in OUTCOMES:
        row(f"{outcome} (first pass)", [r.first.get(outcome, 0) for r in results])
    row(
        "launch attempts: launched / failures[] / throttled",
        [
            f"{r.attempts['launched']} / {r.attempts['failures']} / {r.attempts['throttling']}"
            for r in results
        ],
    )
    row("re-submitted by redrive", [r.resubmitted for r in results])
    for outcome in OUTCOMES:
        row(f"{outcome} (after redrive)", [r.after.get(outcome, 0) for r in results])
    row("worker runs in all", [r.runs for r in results])
    row(
        "first pass / redrive, seconds",
        [f"{r.seconds:.1f} / {r.redrive_seconds:.1f}" for r in results],
    )
    lines += [
        "",
        "`lost` is an upload with no record anywhere: EventBridge counted a `RunTask` that "
        "answered `failures[]` as delivered. `dead-lettered` uploads are in the processor's "
        "dead-letter queue with the reason, and `redrive` re-submits them.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--failures", type=float, default=0.3)
    parser.add_argument("--throttling", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp, moto_server(Path(tmp) / "moto.log") as endpoint:
        results = [
            scenario(
                endpoint,
                delivery,
                Path(tmp),
                uploads=args.uploads,
                failures=args.failures,
                throttling=args.throttling,
                seed=args.seed,
            )
            for delivery in ("Direct", "Orchestrated")
        ]
    text = table(results, "make bench (python -m bench.delivery)")
    print(text)
    write_section(text, "delivery")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
