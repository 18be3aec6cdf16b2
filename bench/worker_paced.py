"""The worker against a source paced at 100, 250, 500 and 700 MB/s, in each INTEGRITY mode.

A task reads S3 over its network, not over loopback at 1-2.5 GB/s (bench.worker's
figure). Here a pacing proxy (bench.worker_pacer) stands in front of the moto server; a
bare ``get_object`` loop and the worker (``python -m private_s3_worker``, the default
processor, ``INTEGRITY`` sha256, s3 and none) read the same object through it, in the
same run, interleaved. For each rate and mode: the body's throughput as the proxy
measures it (first byte sent to last byte taken), the ratio worker/bare; CPU seconds per
GB of the child (user+sys, all threads, from its first GetObject's response to its exit
handler: bench.worker_child; ``os.wait4``'s total less that window is the cost per
object whatever its size); peak RSS (the child's VmHWM). Also the CPU each checksum
costs in this process. Medians of REPEATS runs. Writes the "Worker: against a paced
source" section of BENCHMARKS.md.

    python -m bench.worker_paced [--rates 100,250,500,700] [--size-mb 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from awscrt import checksums
from private_s3_processor_cli.local.emulator import aws_env, moto_server

from bench.worker import BUCKET, MB, ROOT, Pattern, machine, write_section
from bench.worker_pacer import PacingProxy

MODES = ("sha256", "s3", "none")
DEFAULTS = {"rates": "100,250,500,700", "size_mb": 300, "repeats": 3}

BARE = """
import sys
import boto3
from botocore.config import Config
# A plain read: no checksum asked for or computed (the worker's modes add their own).
client = boto3.client("s3", config=Config(response_checksum_validation="when_required"))
body = client.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"]
total = 0
while chunk := body.read(1024 * 1024):
    total += len(chunk)
assert total == int(sys.argv[3]), total
"""


@dataclass
class Run:
    body_s: float  # the object's body, as the proxy saw it taken
    cpu_s: float  # user + sys from the first GetObject's response to the exit handler
    outside_s: float  # the rest of os.wait4's total: start-up, listing, teardown
    rss_mib: float


def child(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(CPU seconds from its first GetObject's response to its exit handler, the rest of
    its CPU seconds, peak RSS MiB, last stdout line) of one child under
    bench.worker_child."""
    with (
        tempfile.NamedTemporaryFile(suffix=".json") as report,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker_child", *args],
            env={**env, "BENCH_CHILD_FILE": report.name},
            cwd=ROOT,
            stdout=out,
            stderr=err,
            text=True,
        )
        # wait4, not Popen.wait: the rusage is this child's own (and its children's).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode != 0:
            raise RuntimeError(f"{args[:2]} failed ({proc.returncode}): {err.read()}{text}")
        facts = json.loads(Path(report.name).read_text())
        window = float(facts["cpu_at_exit_s"]) - float(facts["cpu_at_get_s"])
        outside = usage.ru_utime + usage.ru_stime - window
        last = text.strip().splitlines()[-1] if text.strip() else ""
        return window, outside, facts["vmhwm_kib"] / 1024, last


class Bench:
    def __init__(self, proxy: PacingProxy, endpoint: str) -> None:
        self.proxy = proxy
        self.env = {**aws_env(proxy.url), "PYTHONPATH": str(ROOT)}
        self.s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.env["AWS_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def upload(self, key: str, size: int) -> dict[str, str]:
        """The object, stored with a full-object CRC64NVME (what S3 stores by default)."""
        self.s3.upload_fileobj(
            Pattern(size, csv=False), BUCKET, key, ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"}
        )
        head = self.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        stored = head.get("ChecksumCRC64NVME", "")
        if not stored or "-" in stored:
            raise RuntimeError(f"{key}: no full-object CRC64NVME stored ({head})")
        return {"S3_BUCKET": BUCKET, "S3_KEY": key, "S3_SIZE": str(size), "S3_ETAG": head["ETag"]}

    def run(self, name: str, event: dict[str, str], prefix: str) -> Run:
        self.proxy.transfers.clear()
        if name == "bare":
            args = ["-c", BARE, BUCKET, event["S3_KEY"], event["S3_SIZE"]]
            cpu, outside, rss, _ = child(args, self.env)
        else:
            env = {**self.env, **event, "INTEGRITY": name, "OUTPUT_PREFIX": prefix}
            cpu, outside, rss, last = child(["-m", "private_s3_worker"], env)
            final = json.loads(last)
            if final["outcome"] != "processed" or final["integrity"]["method"] != name:
                raise RuntimeError(f"the worker did not run as INTEGRITY={name}: {final}")
        path = f"/{BUCKET}/{event['S3_KEY']}"
        (transfer,) = [t for t in self.proxy.transfers if t.path.split("?")[0] == path]
        return Run(transfer.seconds, cpu, outside, rss)


def measure(bench: Bench, rates: list[int], size_mb: int, repeats: int) -> dict[str, Any]:
    size = size_mb * MB
    load = [os.getloadavg()[0]]  # other work on the machine takes cores from the reader
    event = bench.upload(f"paced/binary-{size_mb}MB.bin", size)
    names = ["bare", *MODES]
    every: dict[str, list[Run]] = {name: [] for name in names}
    rows = []
    for rate in rates:
        bench.proxy.rate = rate * MB
        runs: dict[str, list[Run]] = {name: [] for name in names}
        for rep in range(repeats):
            for name in names:  # interleaved: a slower moment of the machine hits all
                runs[name].append(bench.run(name, event, f"paced-out/{rate}/{name}/{rep}/"))
        bare = runs["bare"]
        for name in names:
            every[name] += runs[name]
        for mode in MODES:
            rows.append(row(rate, mode, bare, runs[mode], size))
            print(rows[-1], flush=True)
        load.append(os.getloadavg()[0])
    outside = {name: statistics.median(r.outside_s for r in runs) for name, runs in every.items()}
    return {"rows": rows, "outside": outside, "checksums": checksum_costs(), "load": load}


def row(rate: int, mode: str, bare: list[Run], work: list[Run], size: int) -> dict[str, Any]:
    def med(runs: list[Run], field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in runs))

    gigabytes = size / 1e9
    return {
        "rate": rate,
        "mode": mode,
        "bare_mb_s": size / MB / med(bare, "body_s"),
        "worker_mb_s": size / MB / med(work, "body_s"),
        "ratio": med(bare, "body_s") / med(work, "body_s"),
        "bare_cpu_s_gb": med(bare, "cpu_s") / gigabytes,
        "worker_cpu_s_gb": med(work, "cpu_s") / gigabytes,
        "worker_rss_mib": max(r.rss_mib for r in work),
        "bare_rss_mib": max(r.rss_mib for r in bare),
    }


def checksum_costs() -> dict[str, float]:
    """CPU seconds per GB of each check, on 1 MiB chunks, in this process."""
    data = os.urandom(1024 * 1024)
    crc: dict[str, Callable[[bytes], object]] = {
        "SHA-256 (hashlib)": lambda d: hashlib.sha256(d).digest(),
        "CRC64NVME (awscrt)": checksums.crc64nvme,
        "CRC32C (awscrt)": checksums.crc32c,
        "CRC32 (awscrt)": checksums.crc32,
        "CRC32 (zlib)": zlib.crc32,
        "line count (bytes.count)": lambda d: d.count(b"\n"),
    }
    costs = {}
    for name, function in crc.items():
        rounds = 0
        start = time.process_time()
        while (spent := time.process_time() - start) < 0.5:
            function(data)
            rounds += 1
        costs[name] = spent / (rounds * len(data) / 1e9)
    return costs


def section(result: dict[str, Any], command: str, size_mb: int, repeats: int) -> str:
    rows = result["rows"]
    lines = [
        "## Worker: against a paced source",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}; the moto server, "
        "the pacing proxy and the reader share the cores with whatever else runs: the "
        "1-minute load average was "
        + ", ".join(f"{value:.1f}" for value in result["load"])
        + " (at the start, then after each rate).",
        "",
        f"A {size_mb} MB object (random bytes, stored with a full-object CRC64NVME) is read "
        "through a proxy that paces the body at the source rate (bench/worker_pacer.py: the "
        "emulator answers first, then a token bucket sends the body), by a bare "
        "`get_object` loop (no checksum) and by the worker (default processor) in each "
        f"`INTEGRITY` mode, interleaved, medians of {repeats} runs. *MB/s*: the body from "
        "its first byte sent to its last taken, as the proxy sees it (a reader slower than the "
        "source shows as a longer transfer, up to the few MB the sockets buffer); *ratio*: "
        "worker/bare. *CPU s/GB*: the child's user+sys (all its threads, as `os.wait4` "
        "totals it) from its first GetObject's response to its exit handler "
        "(bench/worker_child.py), per GB of the object: reading, checking and processing "
        "it, and the worker's manifest write. Goal: ratio ≥ 0.95 at every rate up to "
        "700 MB/s, RSS flat.",
        "",
        "| source MB/s | INTEGRITY | bare MB/s | worker MB/s | ratio | bare CPU s/GB | "
        "worker CPU s/GB | worker peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rate']} | {r['mode']} | {r['bare_mb_s']:.0f} | {r['worker_mb_s']:.0f} | "
            f"{r['ratio']:.2f} | {r['bare_cpu_s_gb']:.2f} | "
            f"{r['worker_cpu_s_gb']:.2f} | {r['worker_rss_mib']:.1f} |"
        )
    spread = max(r["worker_rss_mib"] for r in rows) - min(r["worker_rss_mib"] for r in rows)
    outside = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in result["outside"].items())
    lines += [
        "",
        f"Lowest ratio: {min(r['ratio'] for r in rows):.2f}. Worker peak RSS spread across "
        f"rates and modes: {spread:.1f} MiB. CPU per object outside that window, whatever its "
        f"size (`os.wait4`'s total less the window: interpreter start, imports, client, the "
        f"worker's listing, teardown), median: {outside}.",
        "",
        "CPU per GB of each check on this machine (1 MiB chunks, one core):",
        "",
        "| check | CPU s/GB |",
        "|---|---:|",
        *(f"| {name} | {cost:.2f} |" for name, cost in result["checksums"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default=DEFAULTS["rates"], help="source rates in MB/s")
    parser.add_argument("--size-mb", type=int, default=DEFAULTS["size_mb"])
    parser.add_argument("--repeats", type=int, default=DEFAULTS["repeats"])
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-paced-moto.log"
    with moto_server(log) as endpoint:
        proxy = PacingProxy(endpoint)
        proxy.start()
        try:
            bench = Bench(proxy, endpoint)
            bench.s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            result = measure(bench, rates, args.size_mb, args.repeats)
        finally:
            proxy.stop()
    chosen = {"rates": args.rates, "size_mb": args.size_mb, "repeats": args.repeats}
    command = (
        "make bench (python -m bench.worker_paced)"
        if chosen == DEFAULTS
        else f"python -m bench.worker_paced --rates {args.rates} --size-mb {args.size_mb} "
        f"--repeats {args.repeats}"
    )
    write_section(section(result, command, args.size_mb, args.repeats), "worker-paced")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
