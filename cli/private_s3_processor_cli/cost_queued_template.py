"""What ``cost`` reads of a ``Delivery: Queued`` processor from its *expanded* template,
never from the compact properties: Concurrency from the worker's environment
(``QUEUE_CONCURRENCY``), MaxTasks from the scalable target, the scale-out steps and
the backlog alarm's metric math, IdleSeconds from the idle alarm's datapoints, the
long-poll wait and visibility timeout from the queue. The logical IDs (``<P>Queue``,
``<P>ScalableTarget``, ``<P>ScaleOutPolicy``, ``<P>BacklogAlarm``, ``<P>IdleAlarm``)
are the macro's public interface. Each missing or malformed piece is a ``CostError``
naming it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .cost_prices import CostError
from .cost_template import a_map, number, properties, value
from .scaling_math import MathError, compile_expression

# What each metric of the backlog alarm counts, by (namespace, metric name).
VISIBLE, IN_FLIGHT, ARRIVED = "visible", "in flight", "arrived"
ROLES = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): VISIBLE,
    ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"): IN_FLIGHT,
    ("AWS/Events", "Invocations"): ARRIVED,
}


@dataclass(frozen=True)
class Step:
    lower: float  # relative to the alarm's threshold, as Application Auto Scaling reads it
    upper: float
    adjustment: int


@dataclass(frozen=True)
class QueuedConfig:
    processor: str
    concurrency: int
    min_tasks: int
    max_tasks: int
    idle_s: float  # the idle alarm's datapoints x period: nothing seen this long -> 0 tasks
    wait_s: float  # the queue's long-poll wait (ReceiveMessageWaitTimeSeconds)
    visibility_s: float
    threshold: float
    exact: bool  # ExactCapacity (else ChangeInCapacity from 0 tasks)
    steps: tuple[Step, ...]
    expression: str
    roles: Mapping[str, str]  # metric ID in the expression -> VISIBLE, IN_FLIGHT, ARRIVED

    def tasks_for(self, visible: float, in_flight: float, arrived: float) -> int:
        """Desired tasks from 0 when the backlog alarm sees one minute of these values:
        its own expression, then the scale-out policy's step for (value - threshold),
        within Min/MaxCapacity. 0 when the alarm would not fire."""
        seen = {VISIBLE: visible, IN_FLIGHT: in_flight, ARRIVED: arrived}
        metric = evaluate(self.expression, {i: seen[r] for i, r in self.roles.items()})
        if not metric > self.threshold:  # GreaterThanThreshold
            return 0
        over = metric - self.threshold
        for step in self.steps:
            if step.lower <= over < step.upper:
                return max(self.min_tasks, min(self.max_tasks, step.adjustment))
        return 0


def queued_config(
    processor: str,
    found: Mapping[str, Mapping[str, Any]],
    container_env: Mapping[str, Any],
    parameters: Mapping[str, Any],
    template: Mapping[str, Any],
) -> QueuedConfig:
    def part(suffix: str, kind: str) -> Mapping[str, Any]:
        name = f"{processor}{suffix}"
        resource = found.get(name)
        if resource is None or resource.get("Type") != kind:
            raise CostError(f"{processor} is Queued but has no {kind} {name}")
        return properties(name, resource)

    def num(node: Any, what: str) -> float:
        return number(value(node, parameters, template, what), what)

    target = part("ScalableTarget", "AWS::ApplicationAutoScaling::ScalableTarget")
    queue = part("Queue", "AWS::SQS::Queue")
    backlog = part("BacklogAlarm", "AWS::CloudWatch::Alarm")
    idle = part("IdleAlarm", "AWS::CloudWatch::Alarm")
    scale_out = part("ScaleOutPolicy", "AWS::ApplicationAutoScaling::ScalingPolicy")
    if scale_out.get("PolicyType", "StepScaling") != "StepScaling":
        raise CostError(
            f"{processor}ScaleOutPolicy: cannot model PolicyType {scale_out.get('PolicyType')!r}"
        )
    policy = a_map(
        scale_out.get("StepScalingPolicyConfiguration"),
        f"the StepScalingPolicyConfiguration of {processor}ScaleOutPolicy",
    )
    kind = policy.get("AdjustmentType")
    if kind not in ("ExactCapacity", "ChangeInCapacity"):
        raise CostError(f"{processor}ScaleOutPolicy: cannot model AdjustmentType {kind!r}")
    concurrency = num(container_env.get("QUEUE_CONCURRENCY"), f"QUEUE_CONCURRENCY of {processor}")
    max_tasks = num(target.get("MaxCapacity"), f"the MaxCapacity of {processor}ScalableTarget")
    if concurrency < 1 or max_tasks < 1:
        raise CostError(f"{processor}: QUEUE_CONCURRENCY and MaxCapacity must be at least 1")
    min_tasks = num(target.get("MinCapacity"), f"the MinCapacity of {processor}")
    if not 0 <= min_tasks <= max_tasks:
        # RegisterScalableTarget refuses a minimum above the maximum.
        raise CostError(
            f"{processor}ScalableTarget: MinCapacity {min_tasks:g} must be 0 to MaxCapacity "
            f"{max_tasks:g}"
        )
    for query in backlog.get("Metrics") or []:
        stat = query.get("MetricStat") if isinstance(query, Mapping) else None
        period = stat.get("Period") if isinstance(stat, Mapping) else None
        if period is not None and period != 60:
            raise CostError(
                f"{processor}BacklogAlarm: cannot model a Period of {period} (the model "
                "counts one-minute datapoints)"
            )
    expression, roles = _expression(f"{processor}BacklogAlarm", backlog)
    return QueuedConfig(
        processor=processor,
        concurrency=int(concurrency),
        min_tasks=int(min_tasks),
        max_tasks=int(max_tasks),
        idle_s=_idle_seconds(f"{processor}IdleAlarm", idle, num),
        wait_s=num(queue.get("ReceiveMessageWaitTimeSeconds", 0), f"the wait of {processor}Queue"),
        visibility_s=num(queue.get("VisibilityTimeout", 30), f"the visibility of {processor}Queue"),
        threshold=num(backlog.get("Threshold"), f"the Threshold of {processor}BacklogAlarm"),
        exact=kind == "ExactCapacity",
        steps=_steps(f"{processor}ScaleOutPolicy", policy.get("StepAdjustments")),
        expression=expression,
        roles=roles,
    )


def _steps(name: str, node: Any) -> tuple[Step, ...]:
    if not isinstance(node, list) or not node:
        raise CostError(f"{name}: StepAdjustments must be a non-empty list")
    steps = []
    for item in node:
        step = a_map(item, f"a step adjustment of {name}")
        bound = step.get("MetricIntervalLowerBound")
        lower = -math.inf if bound is None else number(bound, f"a lower bound of {name}")
        bound = step.get("MetricIntervalUpperBound")
        upper = math.inf if bound is None else number(bound, f"an upper bound of {name}")
        adjustment = number(step.get("ScalingAdjustment"), f"a ScalingAdjustment of {name}")
        steps.append(Step(lower, upper, int(adjustment)))
    return tuple(steps)


def _expression(name: str, alarm: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The alarm's returned expression, and the role of each metric it reads."""
    metrics = alarm.get("Metrics")
    if not isinstance(metrics, list):
        raise CostError(f"{name}: no Metrics (metric math) to model the backlog with")
    roles: dict[str, str] = {}
    expression = None
    for item in metrics:
        query = a_map(item, f"a metric of {name}")
        stat = a_map(query.get("MetricStat"), f"a MetricStat of {name}")
        metric = a_map(stat.get("Metric"), f"a Metric of {name}")
        if metric:
            key = (str(metric.get("Namespace")), str(metric.get("MetricName")))
            if key not in ROLES:
                raise CostError(f"{name}: cannot model the metric {json.dumps(list(key))}")
            roles[str(query.get("Id"))] = ROLES[key]
        elif query.get("ReturnData", True) and isinstance(query.get("Expression"), str):
            expression = query["Expression"]
    if expression is None:
        raise CostError(f"{name}: no returned Expression")
    return expression, roles


def _idle_seconds(name: str, alarm: Mapping[str, Any], num: Callable[[Any, str], float]) -> float:
    """How long the idle alarm must see nothing: DatapointsToAlarm (else
    EvaluationPeriods) periods of its metrics."""
    metrics = alarm.get("Metrics") or []
    if not isinstance(metrics, list):
        raise CostError(f"{name}: Metrics must be a list")
    periods = [
        num(a_map(a_map(m, name).get("MetricStat"), name).get("Period"), f"a Period of {name}")
        for m in metrics
        if a_map(m, name).get("MetricStat")
    ]
    if "Period" in alarm:
        periods.append(num(alarm["Period"], f"the Period of {name}"))
    if not periods:
        raise CostError(f"{name}: no Period")
    points = alarm.get("DatapointsToAlarm", alarm.get("EvaluationPeriods"))
    return max(periods) * num(points, f"the DatapointsToAlarm of {name}")


def evaluate(expression: str, values: Mapping[str, float]) -> float:
    """A CloudWatch metric math expression of one datapoint, with the same evaluator the
    simulated account uses (``scaling_math``); no datapoint (a division by zero) is NaN."""
    try:
        compiled = compile_expression(expression, frozenset(values))
    except MathError as exc:
        raise CostError(f"cannot model the metric math {expression!r}: {exc}") from None
    result = compiled(values)
    return math.nan if result is None else result


def worker_environment(props: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The ``worker`` container's static environment (name -> value node)."""
    containers = props.get("ContainerDefinitions")
    if not isinstance(containers, list):
        return {}
    for container in containers:
        if isinstance(container, Mapping) and container.get("Name") == "worker":
            entries = container.get("Environment") or []
            if not isinstance(entries, list):
                raise CostError(f"the worker's Environment of {what} must be a list")
            return {
                e["Name"]: e.get("Value")
                for e in entries
                if isinstance(e, Mapping) and isinstance(e.get("Name"), str)
            }
    return {}
