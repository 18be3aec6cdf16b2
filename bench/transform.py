"""Transform speed and scale, side by side with the AWS SAM transform, in one run.

- cold: a new process imports the macro and expands one processor (what a Lambda
  cold start pays), timed inside the process from before the import; the whole
  process (interpreter start included) is reported too. The same for
  ``samtranslator`` translating one function.
- warm: the median time per template for 1, 10 and 40 processors, and for SAM
  templates of 1, 10 and 40 functions (each an S3 EventBridge event with a retry
  policy and a dead-letter queue, a VPC config and a policy template), in this
  process; compared per template and per output resource.
- scale: resources and bytes (compact JSON, as the macro returns it) per processor
  and for the shared network, and the most processors one stack can hold under
  CloudFormation's 500 resources and 1 MB template limits.

Writes the "Transform" and "Scale" sections of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from private_s3_processor import Context, ExpansionError, expand
from private_s3_processor.delivery import MODES
from private_s3_processor.properties import Properties
from private_s3_processor.rules import MAX_RESOURCES

from bench.worker import machine, write_section

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
SIZES = (1, 10, 40)
# The goal of 40 processors per stack is for the delivery a processor gets by default.
DEFAULT_DELIVERY = Properties.model_fields["Delivery"].default


def processors_template(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "Resources": {
            f"Processor{i:02d}": {
                "Type": "PrivateS3Processor",
                "Properties": {
                    "Image": IMAGE,
                    "Prefix": f"in{i:02d}/",
                    "OutputPrefix": f"out{i:02d}/",
                    **extra,
                },
            }
            for i in range(n)
        }
    }


def sam_template(n: int) -> dict[str, Any]:
    """n functions, each triggered like a processor: S3 "Object Created" through an
    EventBridge rule with a retry policy and a dead-letter queue, in a VPC, reading the
    bucket through a policy template."""
    functions = {}
    for i in range(n):
        functions[f"Function{i:02d}"] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "app.handler",
                "InlineCode": "def handler(event, context):\n    return event\n",
                "VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
                "Policies": [{"S3ReadPolicy": {"BucketName": f"bucket-{i}"}}],
                "Events": {
                    "Upload": {
                        "Type": "EventBridgeRule",
                        "Properties": {
                            "Pattern": {
                                "source": ["aws.s3"],
                                "detail-type": ["Object Created"],
                                "detail": {
                                    "bucket": {"name": [f"bucket-{i}"]},
                                    "object": {"key": [{"prefix": f"in{i:02d}/"}]},
                                },
                            },
                            "RetryPolicy": {"MaximumRetryAttempts": 185},
                            "DeadLetterConfig": {"Type": "SQS"},
                        },
                    }
                },
            },
        }
    return {"Transform": "AWS::Serverless-2016-10-31", "Resources": functions}


def context() -> Context:
    return Context(
        region=REGION,
        account_id="123456789012",
        s3_prefix_list=lambda region: "pl-6da54004",
        parameters={},
    )


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def sam_translate(template: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    result: dict[str, Any] = transform(copy.deepcopy(template), {}, _NoManagedPolicies())
    return result


COLD_OURS = f"""
import time
start = time.perf_counter()
from private_s3_processor import Context, expand
expand({processors_template(1)!r}, Context(region={REGION!r}, account_id="123456789012",
       s3_prefix_list=lambda r: "pl-6da54004", parameters={{}}))
print((time.perf_counter() - start) * 1000)
"""

COLD_SAM = f"""
import time
start = time.perf_counter()
from samtranslator.translator.transform import transform
class NoManaged:
    def load(self): return {{}}
transform({sam_template(1)!r}, {{}}, NoManaged())
print((time.perf_counter() - start) * 1000)
"""


def cold(code: str, repeats: int) -> tuple[float, float]:
    """Median (inside the process, whole process) in ms over ``repeats`` new processes."""
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    inside, whole = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        whole.append((time.perf_counter() - start) * 1000)
        inside.append(float(run.stdout.strip().splitlines()[-1]))
    return statistics.median(inside), statistics.median(whole)


def warm(
    fn: Any, template: dict[str, Any], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, int]:
    """Median ms per call after one warm-up call, and the output's resource count; by
    ``clock`` (wall time; a test under parallel load passes ``time.process_time``).

    The garbage collector is off while timing, as ``timeit`` does: a full collection
    lands on whichever call crosses its threshold, and on this machine that swung one
    side of the SAM comparison by up to 2x between runs."""
    out = fn(template)
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = clock()
            fn(template)
            times.append((clock() - start) * 1000)
    finally:
        gc.enable()
    return statistics.median(times), len(out["Resources"])


@dataclass
class Scale:
    delivery: str
    shared_resources: int
    per_processor: int
    shared_bytes: int
    bytes_per_processor: int
    max_processors: int
    limit: str
    at_max: tuple[int, int]  # resources, bytes


def size(template: dict[str, Any]) -> tuple[int, int]:
    out = expand(template, context())
    return len(out["Resources"]), len(json.dumps(out, separators=(",", ":")))


def _expands(n: int, extra: dict[str, Any]) -> tuple[int, int] | None:
    """The size of ``n`` processors expanded, or None when the transform refuses them
    as CloudFormation would (limits.py)."""
    try:
        return size(processors_template(n, **extra))
    except ExpansionError:
        return None


def scale(delivery: str) -> Scale:
    """Resources and bytes per processor of one delivery mode, and the most processors
    one stack holds. The search starts where the mode's resource count per processor
    (delivery/) puts CloudFormation's resource limit, and walks from there to the count
    that expands with one more refused: two expansions when the count is right."""
    extra = {"Delivery": delivery}
    r1, b1 = size(processors_template(1, **extra))
    r2, b2 = size(processors_template(2, **extra))
    per, per_bytes = r2 - r1, b2 - b1
    n = max(1, (MAX_RESOURCES - (r1 - per)) // MODES[delivery].resources_per_processor)
    fits = _expands(n, extra)
    while fits is None:  # the bytes limit binds first (one processor always expands)
        n -= 1
        fits = _expands(n, extra)
    while (bigger := _expands(n + 1, extra)) is not None:
        n, fits = n + 1, bigger
    # n + 1 processors pass one of the limits; their resource count says which.
    limit = "resources" if r1 + per * n > MAX_RESOURCES else "bytes"
    return Scale(
        delivery,
        r1 - per,
        per,
        b1 - per_bytes,
        per_bytes,
        n,
        limit,
        fits,
    )


def measure(repeats: int, cold_repeats: int) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # samtranslator wants a region
    ctx = context()
    result: dict[str, Any] = {
        "cold_ours": cold(COLD_OURS, cold_repeats),
        "cold_sam": cold(COLD_SAM, cold_repeats),
    }
    rows = []
    for n in SIZES:
        ours_ms, ours_res = warm(lambda t: expand(t, ctx), processors_template(n), repeats)
        sam_ms, sam_res = warm(sam_translate, sam_template(n), repeats)
        rows.append(
            {
                "n": n,
                "ours_ms": ours_ms,
                "ours_resources": ours_res,
                "sam_ms": sam_ms,
                "sam_resources": sam_res,
                "speedup": sam_ms / ours_ms,
                "per_resource_speedup": (sam_ms / sam_res) / (ours_ms / ours_res),
            }
        )
    result["warm"] = rows
    result["scale"] = [scale(delivery) for delivery in MODES]
    return result


def transform_section(r: dict[str, Any], command: str, repeats: int, cold_repeats: int) -> str:
    import samtranslator  # type: ignore[import-untyped]

    ours_in, ours_whole = r["cold_ours"]
    sam_in, sam_whole = r["cold_sam"]
    lines = [
        "## Transform: cold and warm, beside the AWS SAM transform",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}, "
        f"aws-sam-translator {samtranslator.__version__}. Both in the same run; SAM "
        "translates functions triggered like a processor (S3 event through an EventBridge "
        "rule with retry policy and dead-letter queue, VPC config, `S3ReadPolicy`).",
        "",
        f"Cold (new process, import + first expansion of one processor / translation of "
        f"one function; medians of {cold_repeats} processes):",
        "",
        "| | import + first call, ms | whole process, ms |",
        "|---|---:|---:|",
        f"| private-s3-processor | {ours_in:.0f} | {ours_whole:.0f} |",
        f"| samtranslator | {sam_in:.0f} | {sam_whole:.0f} |",
        "",
        f"Warm (same process, median of {repeats} calls after a warm-up):",
        "",
        "| processors / functions | ours ms | ours resources | SAM ms | SAM resources | "
        "per template | per output resource |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in r["warm"]:
        lines.append(
            f"| {w['n']} | {w['ours_ms']:.2f} | {w['ours_resources']} | {w['sam_ms']:.2f} | "
            f"{w['sam_resources']} | {w['speedup']:.1f}x faster | "
            f"{w['per_resource_speedup']:.1f}x faster |"
        )
    one, forty = r["warm"][0], r["warm"][-1]
    lines += [
        "",
        f"Goals: warm ≥ 4x SAM for one processor — {one['speedup']:.1f}x; ≥ 2x per output "
        f"resource at 40 — {forty['per_resource_speedup']:.1f}x; cold (import + first "
        f"expansion) < 200 ms — {ours_in:.0f} ms ({ours_whole:.0f} ms for the whole "
        "process, interpreter start included).",
        "",
    ]
    return "\n".join(lines)


def scale_section(r: dict[str, Any], command: str) -> str:
    lines = [
        "## Scale: resources and bytes",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {machine()}. Processors with "
        "a prefix and "
        "an output prefix on the created network (2 AZs, all endpoints); bytes of the "
        "processed template as compact JSON. Limits: 500 resources, 1 MB (read as "
        "1,000,000 bytes).",
        "",
        "| delivery | shared resources | per processor | shared bytes | bytes per "
        "processor | most processors per stack | limited by | at that count |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in r["scale"]:
        lines.append(
            f"| {s.delivery} | {s.shared_resources} | {s.per_processor} | "
            f"{s.shared_bytes:,} | {s.bytes_per_processor:,} | {s.max_processors} | "
            f"{s.limit} | {s.at_max[0]} resources, {s.at_max[1]:,} bytes |"
        )
    default = next(s for s in r["scale"] if s.delivery == DEFAULT_DELIVERY)
    lines += [
        "",
        f"Goal: at least 40 processors in one stack — {default.max_processors} with "
        f"`{default.delivery}` delivery.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--cold-repeats", type=int, default=7)
    args = parser.parse_args()
    result = measure(args.repeats, args.cold_repeats)
    command = "make bench (python -m bench.transform)"
    text = transform_section(result, command, args.repeats, args.cold_repeats)
    print(text)
    write_section(text, "transform")
    text = scale_section(result, command)
    print(text)
    write_section(text, "scale")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
