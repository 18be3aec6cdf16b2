"""What ``local`` prints: progress on stderr, then the table of rows (or JSON lines)
and the summary on stdout."""

from __future__ import annotations

import json
import sys
from collections import Counter

from .launches import LaunchFaults
from .model import Row


def progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def table(rows: list[Row]) -> str:
    headers = ("key", "processor", "exit", "outputs", "duration", "status")
    lines = [
        [
            r.key,
            r.processor or "no match",
            "" if r.exit_code is None else str(r.exit_code),
            str(len(r.outputs)),
            "" if r.duration_s is None else f"{r.duration_s:.2f}s",
            f"{r.status} (redriven)" if r.redriven else r.status,
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out) + "\n"


def print_results(
    rows: list[Row],
    *,
    as_json: bool,
    retriggered: int,
    faults: LaunchFaults,
    elapsed: float,
    quota: Counter[str] | None = None,
    notes: list[str] | None = None,
) -> None:
    """The rows as JSON lines; or the table, each output, and the summary."""
    if as_json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=False))
        for note in notes or []:
            progress(note)  # stdout holds only the rows
        return
    sys.stdout.write(table(rows))
    for row in rows:
        for output in row.outputs:
            print(f"  {row.key} -> s3://{row.bucket}/{output}")
    matched = sum(1 for r in rows if r.processor)
    outcomes = Counter(r.outcome for r in rows if r.processor)
    redriven = sum(1 for r in rows if r.redriven)
    print(
        f"{len(rows)} uploads, {matched} matched a processor, "
        f"{sum(1 for r in rows if r.exit_code == 0)} processed (exit 0), "
        + (f"{redriven} redriven, " if redriven else "")
        + f"{retriggered} outputs re-triggered a processor; {elapsed:.1f}s"
    )
    if set(outcomes) - {"processed"} or faults.failures or faults.throttling:
        print(
            "outcomes: "
            + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            + "; launch attempts: "
            + ", ".join(f"{n} {k}" for k, n in sorted(faults.drawn.items()))
        )
    if quota and (quota["throttled"] or quota["vcpu"]):
        print(
            f"account quota: {quota['launched']} tasks launched, {quota['throttled']} "
            f"launch attempts throttled, {quota['vcpu']} refused for vCPUs"
        )
    for note in notes or []:
        print(note)
