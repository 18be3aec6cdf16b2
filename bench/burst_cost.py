"""The per-file cost of each delivery mode at a million files a month, from ``cost``
itself (the command a user runs), for BENCHMARKS.md's "Burst" section."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from private_s3_processor_cli.main import main as cli

FILES = 1_000_000
DURATION_S = 0.1
BURSTS = 30
# (column, Delivery, extra cost options)
COLUMNS = (
    ("Direct", "Direct", ()),
    ("Orchestrated", "Orchestrated", ()),
    ("Queued, files spread evenly", "Queued", ()),
    (f"Queued, {BURSTS} bursts", "Queued", ("--bursts", str(BURSTS))),
)


def _cost(template: Path, extra: tuple[str, ...]) -> dict[str, Any]:
    out = io.StringIO()
    args = ["cost", str(template), "--duration", str(DURATION_S), "--files", str(FILES)]
    with redirect_stdout(out):
        code = cli([*args, *extra, "--json"])
    if code != 0:
        raise SystemExit(f"cost {' '.join(args)} exited {code}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def per_million(template_text: str) -> list[str]:
    """The table: per file, all in per file and a month, for each column."""
    rows: list[tuple[str, dict[str, Any]]] = []
    with TemporaryDirectory() as folder:
        for column, delivery, extra in COLUMNS:
            path = Path(folder) / f"{delivery}.yaml"
            path.write_text(template_text.format(delivery=delivery, extra=""))
            rows.append((column, _cost(path, extra)))
    header = "| | " + " | ".join(c for c, _ in rows) + " |"
    lines = [
        "",
        f"Per file at {FILES:,} files a month of {DURATION_S:g} s, from `cost` (one processor, "
        "defaults, the bundled us-east-1 prices): `private-s3-processor cost TEMPLATE "
        f"--duration {DURATION_S:g} --files {FILES}` (`--bursts {BURSTS}` for the last column).",
        "",
        header,
        "|---|" + "---:|" * len(rows),
        "| per file | "
        + " | ".join(f"${r['per_file'][0]['per_file']:.9f}" for _, r in rows)
        + " |",
        "| fixed cost a month | "
        + " | ".join(f"${r['fixed_monthly']:,.2f}" for _, r in rows)
        + " |",
        "| all in per file | " + " | ".join(f"${r['all_in_per_file']:.9f}" for _, r in rows) + " |",
        "| all in a month | "
        + " | ".join(f"${r['all_in_per_file'] * FILES:,.2f}" for _, r in rows)
        + " |",
        "",
    ]
    return lines
