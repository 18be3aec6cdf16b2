"""Application Auto Scaling step scaling driven by CloudWatch metric alarms, as AWS
documents them, read from the API's own shapes (or an expanded template's resources),
never from a configuration of its own. One ``tick`` per simulated minute.

Alarms (CloudWatch user guide, "Using Amazon CloudWatch alarms",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html):
each period yields one datapoint; the alarm looks at the last ``EvaluationPeriods`` and
goes to ALARM when at least ``DatapointsToAlarm`` (default: all of them) breach,
otherwise OK. ``TreatMissingData``: ``breaching`` / ``notBreaching`` count a missing
datapoint as such; ``missing`` (the default) leaves the alarm INSUFFICIENT_DATA when
every datapoint is missing, ``ignore`` keeps its state then; with some missing, the
present ones are evaluated. A new alarm starts INSUFFICIENT_DATA.

Actions ("Alarm actions", same guide): "Except for Auto Scaling actions, the actions
happen only on state transitions"; alarms "can scale an Auto Scaling group or an
Application Auto Scaling target". So a scaling policy in the actions of the alarm's
state is invoked at every evaluation while the alarm stays in that state; Application
Auto Scaling says the same of step scaling ("The adjustments can continue for additional
alarm breaches until the alarm state returns to OK", "How step scaling for Application
Auto Scaling works").

Step adjustments (Application Auto Scaling API reference, ``StepAdjustment``): bounds are
relative to the alarm's threshold; when the metric is above the threshold the lower bound
is inclusive and the upper exclusive, otherwise the lower is exclusive and the upper
inclusive; a null bound is infinity. The value is the alarm's datapoints aggregated by
``MetricAggregationType`` (default Average). ``ExactCapacity`` sets the capacity,
``ChangeInCapacity`` adds to it; the result is kept within Min/MaxCapacity.

Cooldown (``StepScalingPolicyConfiguration.Cooldown``): after a scale-out, while the
cooldown runs, the capacity it added counts as part of the next scale-out's (so only a
larger one acts); after a scale-in, further scale-ins are blocked until the cooldown
expires, but a scale-out acts at once and ends that cooldown. Whether an activity is a
scale-out or a scale-in follows from the capacity it sets, whichever policy sets it.
Cooldowns are kept per scalable target here (both of a Queued processor's policies scale
the same service).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .scaling_math import Evaluator, MathError, compile_expression
from .scaling_template import described_from_template

ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"
_COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_MISSING = ("breaching", "notBreaching", "missing", "ignore")
# CloudWatch's statistics of a period's samples that this model computes: the local flow
# reduces each minute's samples by an alarm's Stat (``statistic``), and a step policy
# aggregates the alarm's datapoints by its MetricAggregationType (three of them).
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Maximum": max,
    "Minimum": min,
    "Sum": sum,
    "Average": lambda xs: sum(xs) / len(xs),
    "SampleCount": lambda xs: float(len(xs)),
}
_STATISTICS = tuple(STATISTICS)
_AGGREGATE = {name: STATISTICS[name] for name in ("Average", "Minimum", "Maximum")}


def statistic(stat: str, samples: list[float]) -> float | None:
    """``stat`` (one of STATISTICS, checked when the alarm is read) of a period's samples;
    None when nothing was published."""
    return STATISTICS[stat](samples) if samples else None


class ScalingError(ValueError):
    """A scalable target, policy or alarm this model cannot play; the message says which."""


@dataclass
class _Step:
    lower: float  # -inf when null
    upper: float  # +inf when null
    adjustment: int


@dataclass
class _Policy:
    name: str
    adjustment_type: str
    steps: list[_Step]
    cooldown: float
    aggregation: str

    def step(self, value: float, threshold: float) -> _Step | None:
        diff = value - threshold
        for s in self.steps:
            inside = s.lower <= diff < s.upper if value > threshold else s.lower < diff <= s.upper
            if inside:
                return s
        return None


@dataclass
class _Alarm:
    name: str
    compare: str
    threshold: float
    periods: int
    to_alarm: int
    missing: str
    actions: dict[str, list[str]]
    metrics: dict[str, tuple[str, str, str]]  # id -> (namespace, metric name, stat)
    value: Evaluator
    state: str = INSUFFICIENT
    history: list[float | None] = field(default_factory=list)

    def breaches(self, value: float) -> bool:
        return bool(_COMPARE[self.compare](value, self.threshold))

    def evaluate(self, value: float | None) -> str:
        self.history = [*self.history, value][-self.periods :]
        window = [None] * (self.periods - len(self.history)) + self.history
        present = [v for v in window if v is not None]
        if self.missing in ("breaching", "notBreaching"):
            bad = sum(self.breaches(v) for v in present)
            bad += (len(window) - len(present)) * (self.missing == "breaching")
        elif not present:
            return INSUFFICIENT if self.missing == "missing" else self.state
        else:
            bad = sum(self.breaches(v) for v in present)
        return ALARM if bad >= self.to_alarm else OK


class Scaler:
    """One scalable target, its step scaling policies and the alarms that invoke them."""

    def __init__(
        self, minimum: int, maximum: int, policies: dict[str, _Policy], alarms: list[_Alarm]
    ) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.policies, self.alarms = policies, alarms
        self.log: list[tuple[float, str, str, int]] = []  # (now, alarm, state, desired)
        self._last: float | None = None
        self._out_until = -math.inf
        self._out_base = 0  # capacity before the scale-out that started the cooldown
        self._in_until = -math.inf

    @property
    def metrics(self) -> list[tuple[str, str, str]]:
        """(Namespace, MetricName, Stat) of every metric the alarms read: what ``tick``
        needs one datapoint of per minute, computed with that statistic."""
        seen = {m for a in self.alarms for m in a.metrics.values()}
        return sorted(seen)

    @classmethod
    def from_described(
        cls,
        target: Mapping[str, Any],
        policies: Sequence[Mapping[str, Any]],
        alarms: Sequence[Mapping[str, Any]],
    ) -> Scaler:
        """From DescribeScalableTargets, DescribeScalingPolicies and DescribeAlarms
        (MetricAlarms) items. Alarms whose actions name none of ``policies`` are left out."""
        minimum = _int(target, "MinCapacity", "scalable target")
        maximum = _int(target, "MaxCapacity", "scalable target")
        if not 0 <= minimum <= maximum:
            raise ScalingError(f"scalable target: MinCapacity {minimum} > MaxCapacity {maximum}")
        by_arn = {_str(p, "PolicyARN", "scaling policy"): _policy(p) for p in policies}
        read = [_alarm(a, by_arn) for a in alarms]
        return cls(minimum, maximum, by_arn, [a for a in read if a is not None])

    @classmethod
    def from_template(
        cls, template: Mapping[str, Any], processor: str, values: Mapping[str, Any]
    ) -> Scaler:
        """The same, from an expanded template's resources for ``processor`` (Refs to
        parameters resolved from ``values``; a resource's Ref stands for its ARN)."""
        target, policies, alarms = described_from_template(template, processor, values)
        return cls.from_described(target, policies, alarms)

    def tick(
        self, now: float, datapoints: Mapping[tuple[str, str], float | None], current: int
    ) -> int:
        """One minute: each alarm takes that minute's datapoint (per (Namespace,
        MetricName), None for none published) and invokes the policies of its state;
        returns the desired count, ``current`` when nothing acted."""
        if self._last is not None and now < self._last:
            raise ScalingError(f"tick at {now} is before the previous one at {self._last}")
        self._last = now
        desired = current
        for alarm in self.alarms:
            values = {i: datapoints.get((ns, name)) for i, (ns, name, _) in alarm.metrics.items()}
            state = alarm.evaluate(alarm.value(values))
            changed = state != alarm.state
            alarm.state = state
            before = desired
            for arn in alarm.actions.get(state, []):
                desired = self._invoke(now, self.policies[arn], alarm, desired)
            if changed or desired != before:
                self.log.append((now, alarm.name, state, desired))
        return desired

    def _invoke(self, now: float, policy: _Policy, alarm: _Alarm, current: int) -> int:
        present = [v for v in alarm.history if v is not None]
        if not present:
            return current  # no datapoint to place in a step: nothing to adjust by
        step = policy.step(_AGGREGATE[policy.aggregation](present), alarm.threshold)
        if step is None:
            return current
        cooling_out = now < self._out_until
        if policy.adjustment_type == "ExactCapacity":
            wanted = step.adjustment
        else:  # ChangeInCapacity: during a scale-out cooldown, from before that scale-out
            base = self._out_base if cooling_out and step.adjustment > 0 else current
            wanted = base + step.adjustment
        wanted = min(self.maximum, max(self.minimum, wanted))
        if wanted > current:
            if not cooling_out:
                self._out_base = current
            self._out_until = now + policy.cooldown
            self._in_until = -math.inf
            return wanted
        if wanted < current and now >= self._in_until:
            self._in_until = now + policy.cooldown
            return wanted
        return current


def _policy(p: Mapping[str, Any]) -> _Policy:
    name = str(p.get("PolicyName") or p.get("PolicyARN"))
    if p.get("PolicyType", "StepScaling") != "StepScaling":
        raise ScalingError(f"policy {name}: PolicyType {p.get('PolicyType')} is not modelled")
    config = p.get("StepScalingPolicyConfiguration")
    if not isinstance(config, Mapping):
        raise ScalingError(f"policy {name}: no StepScalingPolicyConfiguration")
    kind = config.get("AdjustmentType")
    if kind not in ("ExactCapacity", "ChangeInCapacity"):
        raise ScalingError(f"policy {name}: AdjustmentType {kind} is not modelled")
    aggregation = config.get("MetricAggregationType", "Average")
    if aggregation not in _AGGREGATE:
        raise ScalingError(f"policy {name}: MetricAggregationType {aggregation} is unknown")
    raw = config.get("StepAdjustments")
    if not isinstance(raw, list) or not raw:
        raise ScalingError(f"policy {name}: no StepAdjustments")
    steps = [
        _Step(
            _bound(s, "MetricIntervalLowerBound", -math.inf, name),
            _bound(s, "MetricIntervalUpperBound", math.inf, name),
            _int(s, "ScalingAdjustment", f"policy {name}"),
        )
        for s in raw
    ]
    cooldown = config.get("Cooldown", 0)
    if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown < 0:
        raise ScalingError(f"policy {name}: Cooldown {cooldown!r} is not a number of seconds")
    return _Policy(name, kind, steps, float(cooldown), aggregation)


def _alarm(a: Mapping[str, Any], policies: Mapping[str, _Policy]) -> _Alarm | None:
    name = _str(a, "AlarmName", "alarm")
    keys = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT: "InsufficientDataActions"}
    actions = {s: [x for x in a.get(k) or [] if x in policies] for s, k in keys.items()}
    if not any(actions.values()):
        return None
    if a.get("ActionsEnabled") is False:
        actions = {}
    compare = a.get("ComparisonOperator")
    if compare not in _COMPARE:
        raise ScalingError(f"alarm {name}: ComparisonOperator {compare} is not modelled")
    periods = _int(a, "EvaluationPeriods", f"alarm {name}")
    to_alarm = a.get("DatapointsToAlarm", periods)
    if not isinstance(to_alarm, int) or not 1 <= to_alarm <= periods:
        raise ScalingError(f"alarm {name}: DatapointsToAlarm {to_alarm!r} out of 1-{periods}")
    missing = a.get("TreatMissingData", "missing")
    if missing not in _MISSING:
        raise ScalingError(f"alarm {name}: TreatMissingData {missing!r} is unknown")
    metrics, value = _metrics(a, name)
    threshold = a.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ScalingError(f"alarm {name}: Threshold {threshold!r} is not a number")
    return _Alarm(
        name, compare, float(threshold), periods, to_alarm, missing, actions, metrics, value
    )


def _metrics(a: Mapping[str, Any], name: str) -> tuple[dict[str, tuple[str, str, str]], Evaluator]:
    """The alarm's metrics by id and the evaluator of the value it compares."""
    if "Metrics" not in a:  # a single-metric alarm
        _period(a.get("Period"), name)
        metric = (_str(a, "Namespace", name), _str(a, "MetricName", name))
        if "Statistic" not in a:
            raise ScalingError(f"alarm {name}: only a Statistic is modelled (no percentiles)")
        return {"m": (*metric, str(a["Statistic"]))}, lambda v: v.get("m")
    metrics: dict[str, tuple[str, str, str]] = {}
    expressions: dict[str, str] = {}
    returned = []
    for q in a["Metrics"] or []:
        qid = _str(q, "Id", f"alarm {name} metric")
        if "MetricStat" in q:
            stat = q["MetricStat"]
            _period(stat.get("Period"), name)
            shape = stat.get("Metric") or {}
            statistic = str(stat.get("Stat"))
            if statistic not in _STATISTICS:
                raise ScalingError(
                    f"alarm {name}: metric {qid} has Stat {statistic}; only "
                    f"{', '.join(_STATISTICS)} are modelled"
                )
            metrics[qid] = (
                _str(shape, "Namespace", name),
                _str(shape, "MetricName", name),
                statistic,
            )
        elif "Expression" in q:
            expressions[qid] = q["Expression"]
        else:
            raise ScalingError(f"alarm {name}: metric {qid} has neither MetricStat nor Expression")
        if q.get("ReturnData", True):
            returned.append(qid)
    if len(returned) != 1:
        raise ScalingError(f"alarm {name}: {len(returned)} metrics return data (one must)")
    compiled: dict[str, Evaluator] = {}
    for qid, text in expressions.items():
        try:  # ids are the metrics': an expression over another one is refused too
            compiled[qid] = compile_expression(text, frozenset(metrics))
        except MathError as exc:
            raise ScalingError(f"alarm {name}: expression {qid}: {exc}") from None
    chosen = returned[0]
    if chosen in metrics:
        return metrics, lambda values: values.get(chosen)
    return metrics, compiled[chosen]


def _period(period: Any, name: str) -> None:
    if period != 60:
        raise ScalingError(f"alarm {name}: Period {period!r} is not modelled (one tick a minute)")


def _bound(step: Mapping[str, Any], key: str, default: float, name: str) -> float:
    value = step.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScalingError(f"policy {name}: {key} {value!r} is not a number")
    return float(value)


def _int(item: Mapping[str, Any], key: str, what: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScalingError(f"{what}: {key} {value!r} is not a whole number")
    return value


def _str(item: Mapping[str, Any], key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ScalingError(f"{what}: {key} {value!r} is missing")
    return value
