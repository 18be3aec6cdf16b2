"""The worker against a bare ``get_object`` read loop, on the same emulator, same run.

For each size, both read the same object from the moto server in a child process;
the wall time gives throughput and the ratio, and ``os.wait4`` gives each child's
own peak RSS. Medians of REPEATS runs. Writes the "Worker" section of BENCHMARKS.md.

    python -m bench.worker [--sizes 1,100,1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from private_s3_processor_cli.local.emulator import aws_env, moto_server

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
MB = 1_000_000

BARE = """
import boto3, sys, time
start = time.monotonic()
client = boto3.client("s3")
body = client.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"]
total = 0
while chunk := body.read(1024 * 1024):
    total += len(chunk)
assert total == int(sys.argv[3]), total
print(time.monotonic() - start)
"""


class Pattern(io.RawIOBase):
    """``size`` bytes of content generated on the fly (never all in memory): random
    bytes, or CSV rows."""

    def __init__(self, size: int, csv: bool) -> None:
        super().__init__()
        if csv:
            rows = b"".join(
                b"%d,customer-%d,%d.%02d\n" % (i, i % 997, i * 7, i % 100) for i in range(20000)
            )
            self._block = b"id,name,amount\n" + rows
        else:
            self._block = os.urandom(1024 * 1024)
        self._left = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, len(self._block) - self._pos)
        if n <= 0:
            return 0
        buffer[:n] = self._block[self._pos : self._pos + n]
        self._pos = (self._pos + n) % len(self._block)
        self._left -= n
        return n


def timed_child(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(process seconds, transfer seconds, peak RSS MiB) of one child under bench.peak.
    The transfer time is the child's own: the bare loop prints it, the worker logs it
    (``duration_s``: from reading its inputs to the manifest written)."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as peak:
        start = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "bench.peak", *args],
            env={**env, "PEAK_RSS_FILE": peak.name},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - start
        if run.returncode != 0:
            raise RuntimeError(f"{args[:2]} failed ({run.returncode}): {run.stderr}{run.stdout}")
        last = run.stdout.strip().splitlines()[-1]
        inner = float(json.loads(last)["duration_s"]) if last.startswith("{") else float(last)
        return elapsed, inner, int(Path(peak.name).read_text()) / 1024


def measure(endpoint: str, sizes_mb: list[int], repeats: int) -> list[dict[str, Any]]:
    env = {**aws_env(endpoint), "PYTHONPATH": str(ROOT)}
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    rows = []
    plan = [(kind, size_mb, None) for kind in ("binary", "csv") for size_mb in sizes_mb]
    plan.append(("binary", max(sizes_mb), "bench.processors:drain"))
    for kind, size_mb, processor in plan:
        size = size_mb * MB
        key = f"in/{kind}-{size_mb}MB.{'csv' if kind == 'csv' else 'bin'}"
        if not _exists(s3, key):
            s3.upload_fileobj(Pattern(size, kind == "csv"), BUCKET, key)
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
        bare: list[tuple[float, float, float]] = []
        work: list[tuple[float, float, float]] = []
        for rep in range(repeats):
            bare.append(timed_child(["-c", BARE, BUCKET, key, str(size)], env))
            event = {
                "S3_BUCKET": BUCKET,
                "S3_KEY": key,
                "S3_SIZE": str(size),
                "S3_ETAG": etag,
                "OUTPUT_PREFIX": f"out/{processor}/{rep}/",
            }
            if processor:
                event["PROCESSOR"] = processor
            work.append(timed_child(["-m", "private_s3_worker"], {**env, **event}))
        rows.append(
            {
                "kind": kind,
                "size_mb": size_mb,
                "processor": processor or "default",
                "bare_mb_s": size / MB / statistics.median(b[1] for b in bare),
                "worker_mb_s": size / MB / statistics.median(w[1] for w in work),
                "ratio": statistics.median(b[1] for b in bare)
                / statistics.median(w[1] for w in work),
                "process_ratio": (
                    statistics.median(b[0] for b in bare) / statistics.median(w[0] for w in work)
                ),
                "bare_rss_mib": max(b[2] for b in bare),
                "worker_rss_mib": max(w[2] for w in work),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _exists(s3: Any, key: str) -> bool:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(listed) and listed[0]["Key"] == key


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def section(rows: list[dict[str, Any]], command: str, repeats: int) -> str:
    lines = [
        "## Worker: throughput and memory",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}; the moto server "
        "runs on the same two cores.",
        "",
        "Each object is read from the moto server by a bare `get_object` loop (1 MiB reads) "
        "and by the worker (`python -m private_s3_worker`, writing its manifest), each in a "
        f"process of its own; medians of {repeats} runs. *MB/s* is the transfer as each "
        "process times it (the worker: from reading its inputs to the manifest written); "
        "*process ratio* compares whole processes, interpreter start included. Peak RSS is "
        "the process's own `VmHWM`. Goal: ratio ≥ 0.8, worker RSS within 20 MB across sizes.",
        "",
        "| object | size | processor | bare MB/s | worker MB/s | ratio | process ratio | "
        "bare peak RSS MiB | worker peak RSS MiB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['size_mb']} MB | {r['processor']} | {r['bare_mb_s']:.0f} | "
            f"{r['worker_mb_s']:.0f} | {r['ratio']:.2f} | {r['process_ratio']:.2f} | "
            f"{r['bare_rss_mib']:.1f} | {r['worker_rss_mib']:.1f} |"
        )
    default = [r for r in rows if r["processor"] == "default"]
    spread = max(r["worker_rss_mib"] for r in default) - min(r["worker_rss_mib"] for r in default)
    lines += [
        "",
        f"Worker peak RSS spread across sizes: {spread:.1f} MiB. Lowest ratio with the "
        f"default processor: {min(r['ratio'] for r in default):.2f}.",
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str, name: str) -> None:
    """Replace one ``## `` section of BENCHMARKS.md (other benchmarks keep theirs)."""
    path = ROOT / "BENCHMARKS.md"
    current = (
        path.read_text(encoding="utf-8")
        if path.exists()
        else (
            "# Benchmarks\n\nFigures measured by `make bench` on this project's machines; each "
            "section names the command that produced it.\n"
        )
    )
    marker_start, marker_end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->\n"
    block = marker_start + text + marker_end
    if marker_start in current:
        before, rest = current.split(marker_start, 1)
        current = before + block + rest.split(marker_end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block
    path.write_text(current, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,100,1000", help="object sizes in MB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-moto.log"
    with moto_server(log) as endpoint:
        rows = measure(endpoint, sizes, args.repeats)
    command = (
        "make bench"
        if args.sizes == "1,100,1000" and args.repeats == 3
        else (f"python -m bench.worker --sizes {args.sizes} --repeats {args.repeats}")
    )
    write_section(section(rows, command, args.repeats), "worker")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
