"""``private-s3-processor cost``: what an expanded template costs, from a price table.

Fixed monthly cost: interface endpoints (each is billed per Availability Zone it sits
in, every hour) and CloudWatch alarms (per metric an alarm reads). The S3 gateway
endpoint, EventBridge rules on AWS service events, the cluster and empty queues cost
nothing while idle. Variable cost per processed file: the Fargate task (vCPU and GB
per second, at least one minute, by CPU architecture) and, with ``Delivery:
Orchestrated``, the state machine's transitions, counted by running the template's
own definition (``states.py``) so the count cannot drift from it. ``Delivery:
Queued`` runs a service's tasks, not one per file: ``cost_queued`` models it. Prices
come from a data file with its region and date (``prices/us-east-1.json``); nothing
is fetched.

This module holds the arithmetic; ``cost_prices`` reads the price table,
``cost_template`` and ``cost_queued_template`` read the template's values,
``cost_report`` shows the result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .cost_prices import CostError, Prices
from .cost_queued import Volume, queued_parts
from .cost_queued_template import queued_config, worker_environment
from .cost_report import Estimate, Line, Part, TaskCost, render
from .cost_template import a_map, number, properties, resources_of, value, zones
from .definitions import DefinitionError, definition_of
from .transitions import CountError, Transitions

# The command's API: main, the tests and the docs' cost table import it from here.
__all__ = ["DEFAULT_STARTUP_S", "CostError", "Estimate", "Prices", "Volume", "estimate", "render"]

# Billed seconds of a Queued task before it takes its first message: Fargate bills from
# the start of the image pull (Fargate pricing); the pull and start take tens of seconds
# for a small image pulled through the ECR endpoints. An assumption: --startup says yours
# (ECS's pullStartedAt to the worker's first "protection" line).
DEFAULT_STARTUP_S = 30.0


def estimate(
    template: Mapping[str, Any],
    prices: Prices,
    *,
    duration_s: float = 60.0,
    parameters: Mapping[str, Any] | None = None,
    volume: Volume | None = None,
) -> Estimate:
    """The cost of an *expanded* template (no ``PrivateS3Processor`` left in it);
    ``volume``: files a month, bursts and start-up, which Queued processors need."""
    # NaN compares false with everything, so "not more than 0" alone would let it through.
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise CostError(
            f"the task duration must be more than 0 seconds, and finite (got {duration_s})"
        )
    volume = _checked(volume or Volume(None, 0, DEFAULT_STARTUP_S))
    parameters = parameters or {}
    found = resources_of(template)
    result = Estimate(prices, duration_s)
    result.fixed += _fixed(found, prices, parameters, template)
    machines = _machines(found)
    billed_s = max(duration_s, prices.fargate_minimum_s)
    for logical_id, resource in found.items():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        result.tasks.append(
            _task(
                logical_id,
                properties(logical_id, resource),
                machines.get(json.dumps({"Ref": logical_id})),
                billed_s,
                prices,
                parameters=parameters,
                template=template,
            )
        )
        task = result.tasks[-1]
        env = worker_environment(properties(logical_id, resource), logical_id)
        if "QUEUE_URL" in env:  # Queued: a service's tasks, not one per file
            config = queued_config(task.processor, found, env, parameters, template)
            task.delivery = "Queued"
            task.parts, notes = queued_parts(config, prices, task.rate_s, duration_s, volume)
            task.fargate = sum(p.amount for p in task.parts if p.item.startswith("Fargate"))
            result.notes += notes
    direct = any(t.delivery != "Queued" for t in result.tasks)
    result.notes += _notes(machines, prices, duration_s, billed_s if direct else None)
    return result


def _fixed(
    found: Mapping[str, Mapping[str, Any]],
    prices: Prices,
    parameters: Mapping[str, Any],
    template: Mapping[str, Any],
) -> list[Line]:
    """The monthly lines: interface endpoints per AZ-hour, and alarms."""
    fixed = []
    endpoint_hours = 0.0
    endpoints = 0
    for logical_id, resource in found.items():
        props = properties(logical_id, resource)
        if (
            resource.get("Type") == "AWS::EC2::VPCEndpoint"
            and props.get("VpcEndpointType") == "Interface"
        ):
            azs = zones(logical_id, props.get("SubnetIds", []), parameters, template)
            endpoints += 1
            endpoint_hours += azs * prices.hours_per_month
    if endpoints:
        fixed.append(
            Line(
                "interface endpoints",
                f"{endpoints} endpoints, {endpoint_hours / prices.hours_per_month:g} endpoint-AZs "
                f"x {prices.hours_per_month:g} h x ${prices.endpoint_az_hour}",
                endpoint_hours * prices.endpoint_az_hour,
            )
        )
    kind = "AWS::CloudWatch::Alarm"
    alarms = [properties(name, r) for name, r in found.items() if r.get("Type") == kind]
    metrics = sum(_alarm_metrics(props) for props in alarms)
    if alarms:
        fixed.append(
            Line(
                "CloudWatch alarms",
                f"{len(alarms)} alarms, {metrics} alarm metrics x ${prices.alarm_month}",
                metrics * prices.alarm_month,
            )
        )
    return fixed


def _alarm_metrics(props: Mapping[str, Any]) -> int:
    """CloudWatch bills an alarm per metric it reads: a metric math alarm pays for each
    metric of its expression, not for the expression (CloudWatch pricing, "Alarms")."""
    queries = props.get("Metrics")
    if not isinstance(queries, list):
        return 1
    return max(1, sum(1 for q in queries if isinstance(q, Mapping) and q.get("MetricStat")))


def _machines(found: Mapping[str, Mapping[str, Any]]) -> dict[str, Transitions]:
    """Each state machine's transitions, keyed by the JSON of the task definition it runs
    (its ``TaskDefinition`` substitution, ``{"Ref": ...}``)."""
    return {
        json.dumps(
            a_map(
                properties(logical_id, r).get("DefinitionSubstitutions"),
                f"the DefinitionSubstitutions of {logical_id}",
            ).get("TaskDefinition")
        ): _transitions(logical_id, properties(logical_id, r))
        for logical_id, r in found.items()
        if r.get("Type") == "AWS::StepFunctions::StateMachine"
    }


def _task(
    logical_id: str,
    props: Mapping[str, Any],
    machine: Transitions | None,
    billed_s: float,
    prices: Prices,
    *,
    parameters: Mapping[str, Any],
    template: Mapping[str, Any],
) -> TaskCost:
    """The cost per processed file of one task definition, and of the state machine that
    runs it (``machine``, None when Direct)."""
    what = f"{logical_id}"
    cpu = number(
        value(props.get("Cpu"), parameters, template, f"the Cpu of {what}"),
        f"the Cpu of {what}",
    )
    memory = number(
        value(props.get("Memory"), parameters, template, f"the Memory of {what}"),
        f"the Memory of {what}",
    )
    platform = a_map(props.get("RuntimePlatform"), f"the RuntimePlatform of {what}")
    arch = platform.get("CpuArchitecture", "X86_64")
    arch = str(value(arch, parameters, template, f"the CpuArchitecture of {what}"))
    if arch not in prices.fargate:
        raise CostError(f"{what}: no Fargate prices for architecture {arch} in the price table")
    rates = prices.fargate[arch]
    vcpu, gb = cpu / 1024, memory / 1024
    rate_s = (vcpu * rates["per_vcpu_hour"] + gb * rates["per_gb_hour"]) / 3600
    processor = logical_id.removesuffix("TaskDefinition")
    count = machine.first_time if machine else 0
    parts = [
        Part(
            "Fargate",
            f"{billed_s:g} s billed"
            + (" (the one-minute minimum)" if billed_s == prices.fargate_minimum_s else ""),
            billed_s * rate_s,
        )
    ]
    if machine:
        parts.append(
            Part("Step Functions", f"{count} state transitions", count * prices.transition)
        )
    return TaskCost(
        processor,
        vcpu,
        gb,
        arch,
        machine is not None,
        billed_s * rate_s,
        count * prices.transition,
        count,
        delivery="Orchestrated" if machine else "Direct",
        parts=parts,
        rate_s=rate_s,
    )


def _checked(volume: Volume) -> Volume:
    """The command line's volume, or a one-line CostError saying what is wrong."""
    if volume.files is not None and volume.files < 0:
        raise CostError(f"--files must be 0 or more (got {volume.files})")
    if volume.bursts < 0:
        raise CostError(f"--bursts must be 0 or more (got {volume.bursts})")
    if volume.bursts and not volume.files:
        raise CostError("--bursts needs --files (the files those bursts bring)")
    if volume.files and volume.bursts > volume.files:
        raise CostError(
            f"--bursts ({volume.bursts:,}) cannot exceed --files ({volume.files:,}): "
            "a burst brings at least one file"
        )
    if not (math.isfinite(volume.startup_s) and volume.startup_s >= 0):
        raise CostError(f"--startup must be 0 seconds or more, and finite (got {volume.startup_s})")
    return volume


def _notes(
    machines: Mapping[str, Transitions],
    prices: Prices,
    duration_s: float,
    billed_s: float | None,
) -> list[str]:
    """What the figures leave out or round up: retries, the Fargate minimum, the rest."""
    notes = []
    retries = sorted({n for m in machines.values() for n in m.per_retry})
    if retries:
        notes.append(
            f"Step Functions: {_range(retries)} more transitions for each launch the state "
            "machine retries (no Fargate capacity, throttling, a task that never started)."
        )
    if billed_s is not None:  # a task per file (Direct, Orchestrated)
        notes.append(
            f"Fargate bills per second with a {prices.fargate_minimum_s:g}-second minimum: a "
            f"{duration_s:g} s task is billed {billed_s:g} s."
        )
    notes += [
        f"Not included: data processed by the interface endpoints (${prices.endpoint_gb}/GB: "
        "image pulls' manifests and logs; image layers come through the free S3 gateway "
        "endpoint), CloudWatch Logs and Container Insights metrics, S3 storage and "
        "requests, SQS requests of the dead-letter queues.",
    ]
    return notes


def _transitions(logical_id: str, props: Mapping[str, Any]) -> Transitions:
    try:
        return Transitions.of(definition_of(props))
    except (DefinitionError, CountError) as exc:
        raise CostError(f"{logical_id}: {exc}") from None


def _range(numbers: list[int]) -> str:
    return f"{numbers[0]}" if numbers[0] == numbers[-1] else f"{numbers[0]} to {numbers[-1]}"
