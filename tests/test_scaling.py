"""The scaler (cli/private_s3_processor_cli/scaling.py): CloudWatch alarms and Application
Auto Scaling step policies as documented, on shapes built by hand after the Queued
contract (queue backlog alarm + scale-out policy, idle alarm + scale-in policy)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from private_s3_processor_cli.scaling import ALARM, INSUFFICIENT, OK, Scaler, ScalingError

VISIBLE = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
INFLIGHT = ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible")
ARRIVED = ("AWS/Events", "Invocations")


def _metric(qid: str, key: tuple[str, str], stat: str) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": key[0], "MetricName": key[1], "Dimensions": []},
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def _queries(expression_id: str, expression: str) -> list[dict[str, Any]]:
    return [
        _metric("visible", VISIBLE, "Maximum"),
        _metric("inflight", INFLIGHT, "Maximum"),
        _metric("arrived", ARRIVED, "Sum"),
        {"Id": expression_id, "Expression": expression, "ReturnData": True},
    ]


def scale_out_steps(max_tasks: int) -> list[dict[str, Any]]:
    """[0,1)->1, [1,2)->2, [2,4)->4 ... up to the largest power of two below MaxTasks,
    then [that, +inf)->MaxTasks (the contract's steps)."""
    steps: list[dict[str, Any]] = [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 1, "ScalingAdjustment": 1}
    ]
    low = 1
    while low * 2 < max_tasks:
        steps.append(
            {"MetricIntervalLowerBound": low, "MetricIntervalUpperBound": low * 2,
             "ScalingAdjustment": low * 2}
        )  # fmt: skip
        low *= 2
    steps.append({"MetricIntervalLowerBound": low, "ScalingAdjustment": max_tasks})
    return steps


def template(max_tasks: int = 10, concurrency: int = 4, idle_s: int = 300) -> dict[str, Any]:
    """An expanded template's scaling resources for processor P, per the contract."""
    target = {"Ref": "PScalableTarget"}
    return {
        "Resources": {
            "PScalableTarget": {
                "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                "Properties": {
                    "ServiceNamespace": "ecs",
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "ResourceId": {"Fn::Sub": "service/${Cluster}/${PService.Name}"},
                    "MinCapacity": 0,
                    "MaxCapacity": max_tasks,
                },
            },
            "PScaleOutPolicy": {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": "out",
                    "PolicyType": "StepScaling",
                    "ScalingTargetId": target,
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ExactCapacity",
                        "MetricAggregationType": "Maximum",
                        "Cooldown": 60,
                        "StepAdjustments": scale_out_steps(max_tasks),
                    },
                },
            },
            "PScaleInPolicy": {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": "in",
                    "PolicyType": "StepScaling",
                    "ScalingTargetId": target,
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ExactCapacity",
                        "Cooldown": 60,
                        "StepAdjustments": [
                            {"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0}
                        ],
                    },
                },
            },
            "PBacklogAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Metrics": _queries(
                        "backlog",
                        "(FILL(visible, 0) + FILL(inflight, 0) + FILL(arrived, 0)) / "
                        f"{concurrency}",
                    ),
                    "ComparisonOperator": "GreaterThanThreshold",
                    "Threshold": 0,
                    "EvaluationPeriods": 1,
                    "DatapointsToAlarm": 1,
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [{"Ref": "PScaleOutPolicy"}],
                },
            },
            "PIdleAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Metrics": _queries(
                        "idle", "FILL(visible, 0) + FILL(inflight, 0) + FILL(arrived, 0)"
                    ),
                    "ComparisonOperator": "LessThanOrEqualToThreshold",
                    "Threshold": 0,
                    "EvaluationPeriods": math.ceil(idle_s / 60),
                    "DatapointsToAlarm": math.ceil(idle_s / 60),
                    "TreatMissingData": "breaching",
                    "AlarmActions": [{"Ref": "PScaleInPolicy"}],
                },
            },
        }
    }


def points(
    visible: float | None = None, inflight: float | None = None, arrived: float | None = None
) -> dict[tuple[str, str], float | None]:
    return {VISIBLE: visible, INFLIGHT: inflight, ARRIVED: arrived}


def run(
    scaler: Scaler, minutes: list[dict[tuple[str, str], float | None]], current: int = 0
) -> list[int]:
    """Desired count after each minute, the service following it at once."""
    out = []
    for i, datapoints in enumerate(minutes):
        current = scaler.tick(60.0 * (i + 1), datapoints, current)
        out.append(current)
    return out


def test_wakes_from_zero_on_the_rules_own_metric() -> None:
    """SQS publishes nothing for a queue idle for hours: the rule's Invocations alone
    (arrived, FILL around the rest) put the backlog alarm in ALARM within one minute."""
    scaler = Scaler.from_template(template(), "P", {})
    assert run(scaler, [points(), points(arrived=1)]) == [0, 1]
    assert (120.0, "PBacklogAlarm", ALARM, 1) in scaler.log


def test_scales_out_by_backlog_per_task_up_to_max_tasks() -> None:
    scaler = Scaler.from_template(template(max_tasks=10, concurrency=4), "P", {})
    # backlog per task: 2/4 -> [0,1) -> 1; 6/4 -> [1,2) -> 2; 12/4 -> [2,4) -> 4;
    # 20/4 -> [4,8) -> 8; 10000/4 -> [8,inf) -> 10 (MaxTasks).
    minutes = [points(visible=v) for v in (2, 6, 12, 20, 10_000)]
    assert run(scaler, minutes) == [1, 2, 4, 8, 10]


def test_lower_bound_inclusive_above_the_threshold() -> None:
    scaler = Scaler.from_template(template(concurrency=1), "P", {})
    assert run(scaler, [points(visible=1)]) == [2]  # exactly 1 is in [1, 2)


def test_steps_down_as_the_backlog_drains_and_idles_to_zero() -> None:
    """ExactCapacity below the current count is a scale-in, whichever policy sets it;
    then the idle alarm needs ceil(IdleSeconds/60) empty minutes in a row."""
    scaler = Scaler.from_template(template(max_tasks=10, concurrency=4, idle_s=300), "P", {})
    busy = [points(visible=10_000), points(visible=20, inflight=8), points(visible=1)]
    empty = [points(visible=0, inflight=0) for _ in range(6)]
    assert run(scaler, busy + empty) == [10, 8, 1, 1, 1, 1, 1, 0, 0]


def test_missing_data_is_idle_for_the_idle_alarm() -> None:
    """No metric at all (queue idle for hours): FILL gives 0, the idle alarm breaches."""
    scaler = Scaler.from_template(template(idle_s=120), "P", {})
    assert run(scaler, [points(visible=8), points(), points()]) == [4, 4, 0]


def test_scale_in_cooldown_blocks_scale_in_but_not_scale_out() -> None:
    shape = template()
    config = shape["Resources"]["PScaleOutPolicy"]["Properties"]
    config["StepScalingPolicyConfiguration"]["Cooldown"] = 150
    scaler = Scaler.from_template(shape, "P", {})
    assert scaler.tick(60, points(visible=6), 10) == 2  # scale-in: cooldown until 210
    assert scaler.tick(120, points(visible=1), 2) == 2  # blocked
    assert scaler.tick(180, points(visible=13), 2) == 4  # scale-out acts at once
    assert scaler.tick(240, points(visible=1), 4) == 1  # and ended the scale-in cooldown


def test_change_in_capacity_counts_the_last_scale_out_during_its_cooldown() -> None:
    """The documented example: +2, then +3 within the cooldown, adds only 1 more."""
    policy = {
        "PolicyARN": "arn:out",
        "PolicyName": "out",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "Cooldown": 300,
            "StepAdjustments": [
                {
                    "MetricIntervalLowerBound": 0,
                    "MetricIntervalUpperBound": 10,
                    "ScalingAdjustment": 2,
                },
                {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 3},
            ],
        },
    }
    alarm = {
        "AlarmName": "cpu",
        "Namespace": "AWS/ECS",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "Period": 60,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 50,
        "EvaluationPeriods": 1,
        "AlarmActions": ["arn:out"],
    }
    scaler = Scaler.from_described({"MinCapacity": 0, "MaxCapacity": 20}, [policy], [alarm])
    cpu = ("AWS/ECS", "CPUUtilization")
    assert scaler.tick(60, {cpu: 55}, 4) == 6
    assert scaler.tick(120, {cpu: 70}, 6) == 7  # 4 + max(2, 3)
    assert scaler.tick(180, {cpu: 70}, 7) == 7  # same step, still cooling: nothing
    assert scaler.tick(480, {cpu: 70}, 7) == 10  # cooldown over: +3


def test_missing_data_treatments() -> None:
    def alarm(treat: str, periods: int = 3, to_alarm: int = 2) -> dict[str, Any]:
        return {
            "AlarmName": treat,
            "Namespace": "N",
            "MetricName": "M",
            "Statistic": "Maximum",
            "Period": 60,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": to_alarm,
            "TreatMissingData": treat,
            "AlarmActions": ["arn:p"],
        }

    policy = {
        "PolicyARN": "arn:p",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ExactCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }
    treats = ("missing", "ignore", "breaching", "notBreaching")
    scaler = Scaler.from_described(
        {"MinCapacity": 0, "MaxCapacity": 5}, [policy], [alarm(t) for t in treats]
    )
    states = {}
    for minute, value in enumerate((None, None, 9.0, None, None, None), start=1):
        scaler.tick(60.0 * minute, {("N", "M"): value}, 0)
        states[minute] = {a.name: a.state for a in scaler.alarms}
    assert states[1] == {"missing": INSUFFICIENT, "ignore": INSUFFICIENT,
                         "breaching": ALARM, "notBreaching": OK}  # fmt: skip
    # 2 of 3 must breach: one breaching value with two missing ones.
    assert states[3]["breaching"] == ALARM and states[3]["notBreaching"] == OK
    assert states[3]["missing"] == OK  # one present value, not breaching 2 of 3
    assert states[6] == {"missing": INSUFFICIENT, "ignore": OK,
                         "breaching": ALARM, "notBreaching": OK}  # fmt: skip


def test_ref_to_a_parameter_is_resolved_from_values() -> None:
    shape = template(max_tasks=4)
    shape["Parameters"] = {"Max": {"Type": "Number", "Default": 4}}
    shape["Resources"]["PScalableTarget"]["Properties"]["MaxCapacity"] = {"Ref": "Max"}
    assert Scaler.from_template(shape, "P", {"Max": "2"}).maximum == 2
    assert Scaler.from_template(shape, "P", {}).maximum == 4


def test_metrics_lists_what_tick_needs() -> None:
    assert Scaler.from_template(template(), "P", {}).metrics == [
        (*ARRIVED, "Sum"),
        (*INFLIGHT, "Maximum"),
        (*VISIBLE, "Maximum"),
    ]


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("IF(visible > 0, 1)", "IF without its third argument"),
        ("FILL(visible, REPEAT)", "FILL(..., REPEAT)"),
        ("FILL(visible, 0) + queue", "unknown metric id 'queue'"),
        ("visible +", "expected at the end"),
        ("visible % 2", "unexpected '%'"),
        ("(visible", "')' expected"),
        ("(" * 5000 + "visible" + ")" * 5000, "nested too deeply"),
    ],
)
def test_unmodelled_metric_math_is_named(expression: str, named: str) -> None:
    shape = template()
    shape["Resources"]["PBacklogAlarm"]["Properties"]["Metrics"][3]["Expression"] = expression
    with pytest.raises(ScalingError, match="PBacklogAlarm") as info:
        Scaler.from_template(shape, "P", {})
    assert named in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("where", "key", "value", "named"),
    [
        ("PScaleOutPolicy", "PolicyType", "TargetTrackingScaling", "TargetTrackingScaling"),
        ("PBacklogAlarm", "ComparisonOperator", "GreaterThanUpperThreshold", "Upper"),
        ("PBacklogAlarm", "DatapointsToAlarm", 3, "DatapointsToAlarm 3"),
        ("PIdleAlarm", "TreatMissingData", "sometimes", "sometimes"),
        ("PScalableTarget", "MaxCapacity", {"Fn::GetAtt": ["X", "Y"]}, "Fn::GetAtt"),
        ("PScalableTarget", "MinCapacity", {"Ref": "Nowhere"}, "Nowhere"),
    ],
)
def test_hostile_shapes_are_refused_in_one_line(
    where: str, key: str, value: Any, named: str
) -> None:
    shape = template()
    shape["Resources"][where]["Properties"][key] = value
    with pytest.raises(ScalingError, match=named) as info:
        Scaler.from_template(shape, "P", {})
    assert "\n" not in str(info.value)


def test_period_other_than_a_minute_is_refused() -> None:
    shape = template()
    shape["Resources"]["PIdleAlarm"]["Properties"]["Metrics"][0]["MetricStat"]["Period"] = 300
    with pytest.raises(ScalingError, match="Period 300"):
        Scaler.from_template(shape, "P", {})


def test_a_processor_without_scaling_is_named() -> None:
    with pytest.raises(ScalingError, match="Q: no AWS::ApplicationAutoScaling"):
        Scaler.from_template(template(), "Q", {})


def test_ticks_must_move_forward() -> None:
    scaler = Scaler.from_template(template(), "P", {})
    scaler.tick(120, points(), 0)
    with pytest.raises(ScalingError, match="before the previous one"):
        scaler.tick(60, points(), 0)


def test_the_macros_own_queued_expansion() -> None:
    """The scaler reads what the macro writes for a Queued processor (not a hand-built
    shape): from zero, a burst scales to MaxTasks, then ceil(IdleSeconds/60) idle
    minutes bring it back to zero."""
    from private_s3_processor_cli.loader_yaml import parse_yaml
    from private_s3_processor_cli.templates import expand_document

    source = """
Transform: PrivateS3Processor
Resources:
  Load:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Delivery: Queued
      MaxTasks: 6
      Concurrency: 2
      IdleSeconds: 120
"""
    scaler = Scaler.from_template(expand_document(parse_yaml(source)), "Load", {})
    assert (scaler.minimum, scaler.maximum) == (0, 6)
    minutes = [points(arrived=1), points(visible=3), points(visible=500), points(visible=0)]
    minutes += [points(visible=0, inflight=0)] * 2
    # 1/2 -> 1 task; 3/2 -> [1,2) -> 2; 500/2 -> [4,inf) -> 6; a backlog of 0 is no
    # breach (nothing more); two idle minutes in the idle alarm's window -> 0.
    assert run(scaler, minutes) == [1, 2, 6, 6, 0, 0]


def test_a_statistic_the_local_flow_cannot_reduce_is_named() -> None:
    """A percentile (or any Stat but the five) would be averaged without a word."""
    shape = template()
    stat = shape["Resources"]["PBacklogAlarm"]["Properties"]["Metrics"][0]["MetricStat"]
    stat["Stat"] = "p99"
    with pytest.raises(ScalingError, match="PBacklogAlarm") as info:
        Scaler.from_template(shape, "P", {})
    assert "Stat p99" in str(info.value) and "\n" not in str(info.value)
