"""``private-s3-processor cost``: what an expanded template costs, from a price table.

Fixed monthly cost: interface endpoints (each is billed per Availability Zone it sits
in, every hour) and CloudWatch alarms. The S3 gateway endpoint, EventBridge rules on
AWS service events, the cluster and empty queues cost nothing while idle. Variable
cost per processed file: the Fargate task (vCPU and GB per second, at least one
minute, by CPU architecture) and, with ``Delivery: Orchestrated``, the state
machine's transitions, counted by running the template's own definition (``states.py``)
so the count cannot drift from it. Prices come from a data file with its region and
date (``prices/us-east-1.json``); nothing is fetched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .transitions import CountError, Transitions

# The original design: five interface endpoints in two AZs, one VPC per pipeline.
ORIGINAL_ENDPOINTS = 5
ORIGINAL_AZS = 2


class CostError(Exception):
    """A template or price table the command cannot price; the message says why."""


@dataclass(frozen=True)
class Prices:
    region: str
    date: str
    hours_per_month: float
    endpoint_az_hour: float
    endpoint_gb: float
    fargate: Mapping[str, Mapping[str, float]]
    fargate_minimum_s: float
    transition: float
    alarm_month: float

    @classmethod
    def load(cls, path: Path | None = None) -> Prices:
        where = str(path) if path else "the bundled us-east-1 table"
        try:
            text = (
                path.read_text(encoding="utf-8")
                if path
                else resources.files(__package__).joinpath("prices/us-east-1.json").read_text()
            )
            data = json.loads(text)
            return cls(
                region=str(data["region"]),
                date=str(data["date"]),
                hours_per_month=float(data["hours_per_month"]),
                endpoint_az_hour=float(data["interface_endpoint_per_az_hour"]),
                endpoint_gb=float(data["interface_endpoint_per_gb"]),
                fargate={
                    arch: {k: float(rates[k]) for k in ("per_vcpu_hour", "per_gb_hour")}
                    for arch, rates in data["fargate"].items()
                },
                fargate_minimum_s=float(data["fargate_minimum_seconds"]),
                transition=float(data["step_functions_per_transition"]),
                alarm_month=float(data["cloudwatch_alarm_per_month"]),
            )
        except OSError as exc:
            raise CostError(f"price table {where}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise CostError(f"price table {where}: not JSON ({exc})") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CostError(f"price table {where}: missing or invalid entry {exc}") from None


@dataclass
class Line:
    item: str
    quantity: str
    monthly: float


@dataclass
class TaskCost:
    processor: str
    vcpu: float
    gb: float
    architecture: str
    orchestrated: bool
    fargate: float
    transitions: float
    state_transitions: int = 0  # per file processed first time (Orchestrated)

    @property
    def per_file(self) -> float:
        return self.fargate + self.transitions


@dataclass
class Estimate:
    prices: Prices
    duration_s: float
    fixed: list[Line] = field(default_factory=list)
    tasks: list[TaskCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fixed_monthly(self) -> float:
        return sum(line.monthly for line in self.fixed)

    @property
    def pipelines(self) -> int:
        """What the original design would need for this template: a pipeline per task."""
        return max(1, len(self.tasks))

    def original_monthly(self, pipelines: int) -> float:
        """The original design's fixed cost for ``pipelines`` pipelines."""
        p = self.prices
        return (
            pipelines * ORIGINAL_ENDPOINTS * ORIGINAL_AZS * p.hours_per_month * p.endpoint_az_hour
        )

    def as_json(self, files: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prices": {"region": self.prices.region, "date": self.prices.date},
            "fixed_monthly": round(self.fixed_monthly, 6),
            "fixed": [line.__dict__ for line in self.fixed],
            "duration_seconds": self.duration_s,
            "per_file": [{**t.__dict__, "per_file": round(t.per_file, 8)} for t in self.tasks],
            "original_design_fixed_monthly": round(self.original_monthly(self.pipelines), 6),
            "notes": self.notes,
        }
        if files is not None:
            out["files_per_month"] = files
            out["variable_monthly"] = {
                t.processor: round(t.per_file * files, 6) for t in self.tasks
            }
        return out


def _value(node: Any, parameters: Mapping[str, Any], template: Mapping[str, Any], what: str) -> Any:
    """A literal, or a ``Ref`` to a parameter with a given or default value."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        name = node["Ref"]
        if not isinstance(name, str):
            raise CostError(f"{what} is a Ref to {json.dumps(name)[:80]}, not to a name")
        if name in parameters:
            return parameters[name]
        declared = _map(template.get("Parameters"), "the template's Parameters").get(name)
        if isinstance(declared, dict) and "Default" in declared:
            return declared["Default"]
        raise CostError(f"{what} is !Ref {name}, which has no value (give --parameter {name}=...)")
    if isinstance(node, dict):
        raise CostError(f"{what} is an intrinsic the command cannot evaluate ({json.dumps(node)})")
    return node


def _map(node: Any, what: str) -> Mapping[str, Any]:
    """An optional map (absent or null: empty); anything else is a clear error."""
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise CostError(f"{what} must be a map (got {json.dumps(node)[:80]})")
    return node


def _number(node: Any, what: str) -> float:
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise CostError(f"{what} must be a number (got {json.dumps(node)[:80]})") from None
    if not math.isfinite(value) or value < 0:
        raise CostError(f"{what} must be a finite number of 0 or more (got {node})")
    return value


def _resources(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = template.get("Resources")
    if not isinstance(found, Mapping):
        raise CostError("the template has no Resources map")
    resources = {}
    for logical_id, resource in found.items():
        if not isinstance(resource, Mapping):
            raise CostError(
                f"Resource '{logical_id}': must be a map (got {json.dumps(resource)[:80]})"
            )
        resources[logical_id] = resource
    return resources


def _properties(logical_id: str, resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(resource.get("Properties"), f"the Properties of {logical_id}")


def _zones(
    endpoint: str, subnets: Any, parameters: Mapping[str, Any], template: Mapping[str, Any]
) -> int:
    if isinstance(subnets, list):
        return len(subnets)
    value = _value(subnets, parameters, template, f"the subnets of {endpoint}")
    items = value if isinstance(value, list) else str(value).split(",")
    return len([s for s in items if str(s).strip()])


def estimate(
    template: Mapping[str, Any],
    prices: Prices,
    *,
    duration_s: float = 60.0,
    parameters: Mapping[str, Any] | None = None,
) -> Estimate:
    """The cost of an *expanded* template (no ``PrivateS3Processor`` left in it)."""
    # NaN compares false with everything, so "not more than 0" alone would let it through.
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise CostError(
            f"the task duration must be more than 0 seconds, and finite (got {duration_s})"
        )
    parameters = parameters or {}
    found = _resources(template)
    result = Estimate(prices, duration_s)
    endpoint_hours = 0.0
    endpoints = 0
    for logical_id, resource in found.items():
        props = _properties(logical_id, resource)
        if (
            resource.get("Type") == "AWS::EC2::VPCEndpoint"
            and props.get("VpcEndpointType") == "Interface"
        ):
            zones = _zones(logical_id, props.get("SubnetIds", []), parameters, template)
            endpoints += 1
            endpoint_hours += zones * prices.hours_per_month
    if endpoints:
        result.fixed.append(
            Line(
                "interface endpoints",
                f"{endpoints} endpoints, {endpoint_hours / prices.hours_per_month:g} endpoint-AZs "
                f"x {prices.hours_per_month:g} h x ${prices.endpoint_az_hour}",
                endpoint_hours * prices.endpoint_az_hour,
            )
        )
    alarms = sum(1 for r in found.values() if r.get("Type") == "AWS::CloudWatch::Alarm")
    if alarms:
        result.fixed.append(
            Line(
                "CloudWatch alarms",
                f"{alarms} x ${prices.alarm_month}",
                alarms * prices.alarm_month,
            )
        )
    machines = {
        json.dumps(
            _map(
                _properties(logical_id, r).get("DefinitionSubstitutions"),
                f"the DefinitionSubstitutions of {logical_id}",
            ).get("TaskDefinition")
        ): _transitions(logical_id, _properties(logical_id, r).get("Definition"))
        for logical_id, r in found.items()
        if r.get("Type") == "AWS::StepFunctions::StateMachine"
    }
    billed_s = max(duration_s, prices.fargate_minimum_s)
    for logical_id, resource in found.items():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        props = _properties(logical_id, resource)
        what = f"{logical_id}"
        cpu = _number(
            _value(props.get("Cpu"), parameters, template, f"the Cpu of {what}"),
            f"the Cpu of {what}",
        )
        memory = _number(
            _value(props.get("Memory"), parameters, template, f"the Memory of {what}"),
            f"the Memory of {what}",
        )
        platform = _map(props.get("RuntimePlatform"), f"the RuntimePlatform of {what}")
        arch = platform.get("CpuArchitecture", "X86_64")
        arch = str(_value(arch, parameters, template, f"the CpuArchitecture of {what}"))
        if arch not in prices.fargate:
            raise CostError(f"{what}: no Fargate prices for architecture {arch} in the price table")
        rates = prices.fargate[arch]
        vcpu, gb = cpu / 1024, memory / 1024
        fargate = billed_s / 3600 * (vcpu * rates["per_vcpu_hour"] + gb * rates["per_gb_hour"])
        machine = machines.get(json.dumps({"Ref": logical_id}))
        processor = logical_id.removesuffix("TaskDefinition")
        count = machine.first_time if machine else 0
        result.tasks.append(
            TaskCost(
                processor,
                vcpu,
                gb,
                arch,
                machine is not None,
                fargate,
                count * prices.transition,
                count,
            )
        )
    retries = sorted({n for m in machines.values() for n in m.per_retry})
    if retries:
        result.notes.append(
            f"Step Functions: {_range(retries)} more transitions for each launch the state "
            "machine retries (no Fargate capacity, throttling, a task that never started)."
        )
    result.notes += [
        f"Fargate bills per second with a {prices.fargate_minimum_s:g}-second minimum: a "
        f"{duration_s:g} s task is billed {billed_s:g} s.",
        f"Not included: data processed by the interface endpoints (${prices.endpoint_gb}/GB: "
        "image pulls' manifests and logs; image layers come through the free S3 gateway "
        "endpoint), CloudWatch Logs and Container Insights metrics, S3 storage and "
        "requests, SQS requests.",
    ]
    return result


def _transitions(logical_id: str, definition: Any) -> Transitions:
    try:
        return Transitions.of(definition)
    except CountError as exc:
        raise CostError(f"{logical_id}: {exc}") from None


def _range(numbers: list[int]) -> str:
    return f"{numbers[0]}" if numbers[0] == numbers[-1] else f"{numbers[0]} to {numbers[-1]}"


def render(e: Estimate, files: int | None) -> str:
    p = e.prices
    lines = [
        f"Prices: {p.region}, {p.date} (on-demand list prices; see the price table's sources)",
        "",
    ]
    lines.append("Fixed monthly cost:")
    for line in e.fixed:
        lines.append(f"  {line.item:<22} {line.quantity:<58} ${line.monthly:,.2f}")
    lines.append(f"  {'total':<22} {'':<58} ${e.fixed_monthly:,.2f}")
    lines += ["", f"Per processed file (task duration {e.duration_s:g} s):"]
    for t in e.tasks:
        extra = f" + ${t.transitions:.6f} Step Functions" if t.orchestrated else ""
        lines.append(
            f"  {t.processor:<22} {t.vcpu:g} vCPU, {t.gb:g} GB, {t.architecture}: "
            f"${t.fargate:.6f} Fargate{extra} = ${t.per_file:.6f}"
            + (f"; {files:,} files/month: ${t.per_file * files:,.2f}" if files else "")
        )
    pipelines = e.pipelines
    original = e.original_monthly(pipelines)
    lines += [
        "",
        f"Original design ({ORIGINAL_ENDPOINTS} interface endpoints in {ORIGINAL_AZS} AZs, one "
        f"VPC per pipeline), {pipelines} pipeline{'s' if pipelines > 1 else ''}: "
        f"${original:,.2f} a month fixed; this template: ${e.fixed_monthly:,.2f}"
        + (f" ({e.fixed_monthly / original:.0%})" if original else ""),
        "",
        *(f"Note: {n}" for n in e.notes),
    ]
    return "\n".join(lines) + "\n"
