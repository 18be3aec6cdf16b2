"""A burst of uploads into each delivery mode on the same simulated account quota: what
is processed, dead-lettered and lost, how many tasks are launched, what they cost and how
long the burst takes to drain. Then the Queued targets of issue 14 and a sweep over
MaxTasks, Concurrency and IdleSeconds.

A discrete-event simulation in simulated seconds (``bench/burst_sim.py``): the quota is
``private_s3_processor_cli.quota`` at its documented defaults, the Queued service scales
by ``scaling.Scaler`` read from the macro's own expansion of a Queued template, and the
retry budgets are the ones the expanded templates and rules.py hold. Writes the "burst"
section of BENCHMARKS.md.

    python -m bench.burst [--uploads 10000] [--no-sweep]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from private_s3_processor.rules import LAUNCH_DELAYS_S, LAUNCH_RETRIES, QUEUED_DEFAULTS
from private_s3_processor_cli.cost_prices import Prices
from private_s3_processor_cli.loader_yaml import parse_yaml
from private_s3_processor_cli.scaling import Scaler
from private_s3_processor_cli.templates import expand_document

from bench.burst_cost import per_million
from bench.burst_sim import Outcome, Setup, one_task_per_upload, queued
from bench.worker import write_section

TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Burst:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Prefix: in/
      Delivery: {delivery}
{extra}"""
MODES = ("Direct", "Orchestrated", "Queued")
SWEEP = {"MaxTasks": (5, 10, 20, 40), "Concurrency": (1, 4, 8, 16), "IdleSeconds": (60, 300, 900)}


def expanded(delivery: str, settings: Mapping[str, int] | None = None) -> dict[str, Any]:
    extra = "".join(f"      {k}: {v}\n" for k, v in (settings or {}).items())
    return expand_document(parse_yaml(TEMPLATE.format(delivery=delivery, extra=extra)))


def _of_type(template: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    found = [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]
    if len(found) != 1:
        raise SystemExit(f"burst: expected one {kind} in the expansion, found {len(found)}")
    return found[0]


class Pricing:
    """Fargate per second of a task with the template's size, from cost's price table."""

    def __init__(self, template: Mapping[str, Any], prices: Prices) -> None:
        task = _of_type(template, "AWS::ECS::TaskDefinition")
        self.vcpus = int(task["Cpu"]) / 1024
        self.gb = int(task["Memory"]) / 1024
        arch = (task.get("RuntimePlatform") or {}).get("CpuArchitecture", "X86_64")
        rates = prices.fargate[arch]
        self.per_second = (
            self.vcpus * rates["per_vcpu_hour"] + self.gb * rates["per_gb_hour"]
        ) / 3600
        self.minimum_s = prices.fargate_minimum_s
        self.where = f"{prices.region}, {arch}, prices of {prices.date}"


def run_mode(
    mode: str, setup: Setup, pricing: Pricing, settings: Mapping[str, int] | None = None
) -> Outcome:
    template = expanded(mode, settings)
    setup = replace(setup, vcpus=Pricing(template, Prices.load()).vcpus)
    if mode == "Queued":
        scaler = Scaler.from_template(template, "Burst", {})
        concurrency = (settings or {}).get("Concurrency", QUEUED_DEFAULTS["Concurrency"])
        return queued(setup, pricing.minimum_s, scaler, concurrency)
    # The processor's own rule (Direct also has a failure rule) and its ECS target.
    rule = template["Resources"]["BurstRule"]["Properties"]
    retries = rule["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"]
    return one_task_per_upload(setup, mode, pricing.minimum_s, retries)


def targets(q: Outcome, setup: Setup, max_tasks: int) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the Queued targets of issue 14."""
    scale_outs = sum(
        1 for (_, d), (_, e) in zip([(0, 0), *q.timeline], q.timeline, strict=False) if e > d
    )
    busy = setup.uploads * setup.processing_s
    return [
        ("0 lost", f"{q.counts['lost']}", q.counts["lost"] == 0),
        ("0 dead-lettered", f"{q.counts['dead-lettered']}", q.counts["dead-lettered"] == 0),
        (
            f"launches <= MaxTasks ({max_tasks}) x scale-outs ({scale_outs})",
            f"{q.launches} <= {max_tasks * scale_outs}",
            q.launches <= max_tasks * scale_outs,
        ),
        (
            f"task-seconds <= 2 x processing ({busy:,.0f} s)",
            f"{q.task_seconds:,.0f} s ({q.task_seconds / busy:.2f} x)",
            q.task_seconds <= 2 * busy,
        ),
    ]


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:,.0f} s ({seconds / 60:.1f} min)"


def table(
    results: list[Outcome], alone: list[Outcome], setup: Setup, pricing: Pricing, command: str
) -> list[str]:
    lines = [
        "## Burst: 10,000 uploads into each mode"
        if setup.uploads == 10_000
        else f"## Burst: {setup.uploads:,} uploads into each mode",
        "",
        f"`{command}`: a discrete-event simulation in simulated time (deterministic, seed "
        f"{setup.seed}). The account quota at AWS's defaults: launch bucket "
        f"{setup.limits.launch_burst} + {setup.limits.launch_rate:g}/s, RunTask "
        f"{setup.limits.run_task_rate:g} calls/s, {setup.limits.vcpu_quota:g} concurrent "
        f"vCPUs; tasks of {pricing.vcpus:g} vCPU and {pricing.gb:g} GB (the templates' "
        f"defaults). Cost: Fargate per second, from the image pull to the task's end, with a "
        f"{pricing.minimum_s:g}-second minimum (AWS Fargate pricing, "
        f"https://aws.amazon.com/fargate/pricing/; {pricing.where}).",
        "",
        "| | " + " | ".join(r.mode for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    for outcome in ("processed", "dead-lettered", "lost"):
        row(outcome, [f"{r.counts[outcome]:,}" for r in results])
    row("task launches", [f"{r.launches:,}" for r in results])
    row(
        "RunTask refused: throttled / vCPU quota",
        [f"{r.refusals['throttled']:,} / {r.refusals['vcpu']:,}" for r in results],
    )
    row("Fargate task-seconds", [f"{r.task_seconds:,.0f}" for r in results])
    row("billed task-seconds (1-minute minimum)", [f"{r.billed_seconds:,.0f}" for r in results])
    row("Fargate cost, USD", [f"{r.billed_seconds * pricing.per_second:.4f}" for r in results])
    row("time to drain", [_minutes(r.drain_s) for r in results])
    row("first upload to a worker running", [_minutes(r.lag_s) for r in results])
    row(
        "one upload alone: processed after / billed task-s",
        [f"{r.drain_s:,.0f} s / {r.billed_seconds:,.0f}" for r in alone],
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=10_000)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    if args.uploads < 1:
        parser.error("--uploads must be at least 1")
    setup = Setup(uploads=args.uploads)
    pricing = Pricing(expanded("Direct"), Prices.load())
    results = [run_mode(mode, setup, pricing) for mode in MODES]
    alone = [run_mode(mode, replace(setup, uploads=1), pricing) for mode in MODES]
    command = (
        "make bench (python -m bench.burst)"
        if args.uploads == 10_000 and not args.no_sweep
        else f"python -m bench.burst --uploads {args.uploads}"
        + (" --no-sweep" if args.no_sweep else "")
    )
    lines = table(results, alone, setup, pricing, command)
    lines += queued_details(results[-1], setup)
    lines += per_million(TEMPLATE)
    if not args.no_sweep:
        lines += sweep(setup, pricing)
    lines += assumptions(setup)
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text, "burst")
    return 0


def queued_details(q: Outcome, setup: Setup) -> list[str]:
    lines = [
        "",
        f"Queued targets (issue 14), defaults {_defaults()}:",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target, measured, met in targets(q, setup, QUEUED_DEFAULTS["MaxTasks"]):
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    timeline = ", ".join(f"{t - setup.first_upload_s:+.0f} s → {d}" for t, d in q.timeline)
    lines += [
        "",
        "Desired count of the Queued service over time (seconds after the first upload): "
        f"{timeline}. Back to 0 tasks {_minutes(q.idle_s)} after the first upload.",
    ]
    return lines


def _defaults() -> str:
    return ", ".join(f"{k} {QUEUED_DEFAULTS[k]}" for k in SWEEP)


def sweep(setup: Setup, pricing: Pricing) -> list[str]:
    lines = [
        "",
        f"Queued sweep, one property at a time from the defaults ({_defaults()}):",
        "",
        "| setting | launches | drain | worker running after | back to 0 after | billed task-s "
        "| cost USD | targets met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    runs = [(f"{k} {v}", setup, {k: v}) for k, values in SWEEP.items() for v in values]
    # The idle tail (MaxTasks x IdleSeconds) weighs on a small burst: the same defaults.
    runs += [(f"{n:,} uploads", replace(setup, uploads=n), {}) for n in (500, 2_000)]
    for label, this, settings in runs:
        q = run_mode("Queued", this, pricing, settings)
        max_tasks = settings.get("MaxTasks", QUEUED_DEFAULTS["MaxTasks"])
        met = [m for _, _, m in targets(q, this, max_tasks)]
        lines.append(
            f"| {label} | {q.launches} | {q.drain_s:,.0f} s | {q.lag_s or 0:,.0f} s | "
            f"{q.idle_s or 0:,.0f} s | {q.billed_seconds:,.0f} | "
            f"{q.billed_seconds * pricing.per_second:.4f} | {sum(met)}/{len(met)} |"
        )
    return lines


def assumptions(setup: Setup) -> list[str]:
    budget = sum(LAUNCH_DELAYS_S)
    return [
        "",
        'Assumptions (DESIGN.md, "The simulated account", says what is not modelled):',
        f"- The {setup.uploads:,} uploads arrive evenly over {setup.arrival_s:g} s (an "
        f"`aws s3 sync` of small files), the first {setup.first_upload_s:g} s into a minute of "
        "CloudWatch's clock after a quiet period.",
        f"- Each object takes {setup.processing_s:g} s once a worker holds it: small files, whose "
        "fetch, processing and manifest write are dominated by request latency; Concurrency "
        "objects share one task without slowing each other (I/O-bound).",
        f"- A task runs its worker {setup.startup_s:g} s after it is launched (provisioning, ENI, "
        "image pull): an assumption; AWS publishes no figure, reports range from about 10 s for "
        "small images to minutes for large ones. Fargate bills from the image pull, so start-up "
        "is billed.",
        f"- Direct: throttled RunTask calls retried up to the rule's MaximumRetryAttempts; "
        f"Orchestrated: {LAUNCH_RETRIES} retries within {budget} s (rules.py). Queued: the ECS "
        "scheduler launches toward the desired count through the same quota; CloudWatch "
        "datapoints reach the alarm at the end of their minute (no ingestion delay).",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
