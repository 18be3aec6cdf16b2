"""``Delivery: Queued``: how the worker service scales, from 0 to ``MaxTasks`` and back to 0
(the queue and the service are in ``queued.py``).

AWS-native and nothing else: an Application Auto Scaling scalable target on the service's
desired count, two step scaling policies, and the two CloudWatch alarms that invoke them.
DESIGN.md, "Delivery: Queued", gives the lag of each step with its source.

- The backlog alarm watches, each minute, the messages waiting (visible) and being
  worked on (in flight), per task's worth (Concurrency); when the queue reports none,
  the events the rule delivered (arrived) stand in for them. ``arrived`` is the rule's
  own metric (AWS/Events Invocations): SQS stops publishing the metrics of a queue idle
  for six hours and resumes them up to 15 minutes late (SQS Developer Guide, "Monitoring
  Amazon SQS queues using CloudWatch"), so the first upload after a quiet night would
  otherwise wait a quarter of an hour for a worker. While the alarm is in ALARM,
  CloudWatch invokes its scaling action again every minute (CloudWatch User Guide,
  "Alarm actions": "Except for Auto Scaling actions, the actions happen only on state
  transitions"), and the policy sets the desired count to the step the backlog falls in
  (ExactCapacity): up as a burst arrives, down as it drains.
- The idle alarm fires after IdleSeconds of nothing visible, in flight or arriving, and
  its policy sets the count to 0. Missing data counts as idle: an inactive queue reports
  nothing.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Join, Ref, applicationautoscaling, cloudwatch

from ..cfn import tagged
from ..names import CLUSTER, ProcessorIds
from ..rules import ALARM_PERIOD_S, MAX_STEP_ADJUSTMENTS, SCALING_COOLDOWN_S
from ..spec import Processor

# The three inputs both alarms read, as (id, namespace, metric, statistic).
METRICS = (
    ("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
    ("inflight", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "Maximum"),
    ("arrived", "AWS/Events", "Invocations", "Sum"),
)
# FILL(x, 0): a minute with no datapoint (an inactive queue, a rule that delivered
# nothing) counts as zero instead of leaving the expression without a value.
WORK = "FILL(visible, 0) + FILL(inflight, 0) + FILL(arrived, 0)"


QUEUED = "FILL(visible, 0) + FILL(inflight, 0)"


def backlog_expression(concurrency: int) -> str:
    """Tasks' worth of work: the messages waiting or in flight, divided by the objects one
    task holds at once. When the queue reports none (empty, or asleep after hours idle:
    SQS then publishes nothing), the events the rule delivered this minute stand in for
    them, so the first upload after a quiet night wakes a worker. Only then: added to a
    queue that reports, arrivals would count every message twice and keep a steady trickle
    of uploads at several times the tasks it needs (metric math IF, CloudWatch User Guide,
    "Using IF expressions")."""
    return f"IF({QUEUED} > 0, {QUEUED}, FILL(arrived, 0)) / {concurrency}"


def scale_out_steps(max_tasks: int) -> list[tuple[int, int | None, int]]:
    """(lower, upper or None for +infinity, desired tasks) over the backlog alarm's value
    (threshold 0): [0, 1) -> 1, [1, 2) -> 2, [2, 4) -> 4, ... up to the largest power of two
    below ``max_tasks``, then [that, +inf) -> ``max_tasks``. So a backlog of b tasks' worth
    gets the next power of two above b, at most MaxTasks. Application Auto Scaling reads
    each lower bound as inclusive and each upper bound as exclusive when the value is above
    the threshold (API reference, StepAdjustment)."""
    steps: list[tuple[int, int | None, int]] = []
    lower, power = 0, 1
    while power < max_tasks:
        steps.append((lower, power, power))
        lower, power = power, power * 2
    steps.append((lower, None, max_tasks))
    assert len(steps) <= MAX_STEP_ADJUSTMENTS
    return steps


def idle_periods(idle_seconds: int) -> int:
    """Alarm periods of nothing to do before the service scales to 0 (IdleSeconds is a
    whole number of periods, properties.py)."""
    return -(-idle_seconds // ALARM_PERIOD_S)


def _queries(p: Processor, expression_id: str, expression: str) -> list[Any]:
    ids = ProcessorIds(p.logical_id)
    dimensions = {
        "AWS/SQS": ("QueueName", GetAtt(ids.queue, "QueueName")),
        # Ref of a rule on the default event bus is its name.
        "AWS/Events": ("RuleName", Ref(ids.rule)),
    }
    queries = []
    for metric_id, namespace, name, statistic in METRICS:
        dimension, value = dimensions[namespace]
        queries.append(
            cloudwatch.MetricDataQuery(
                Id=metric_id,
                MetricStat=cloudwatch.MetricStat(
                    Metric=cloudwatch.Metric(
                        Namespace=namespace,
                        MetricName=name,
                        Dimensions=[cloudwatch.MetricDimension(Name=dimension, Value=value)],
                    ),
                    Period=ALARM_PERIOD_S,
                    Stat=statistic,
                ),
                ReturnData=False,
            )
        )
    queries.append(
        cloudwatch.MetricDataQuery(Id=expression_id, Expression=expression, ReturnData=True)
    )
    return queries


def scalable_target(p: Processor) -> applicationautoscaling.ScalableTarget:
    """The service's desired count, from 0 to MaxTasks. Without RoleARN, Application Auto
    Scaling uses its service-linked role for ECS (created on first use)."""
    ids = ProcessorIds(p.logical_id)
    return applicationautoscaling.ScalableTarget(
        ids.scalable_target,
        ServiceNamespace="ecs",
        ScalableDimension="ecs:service:DesiredCount",
        ResourceId=Join("/", ["service", Ref(CLUSTER), GetAtt(ids.service, "Name")]),
        MinCapacity=0,
        MaxCapacity=p.props.queued("MaxTasks"),
        **tagged(p.props.Tags),
    )


def _policy(
    p: Processor, title: str, name: str, steps: list[applicationautoscaling.StepAdjustment]
) -> applicationautoscaling.ScalingPolicy:
    return applicationautoscaling.ScalingPolicy(
        title,
        PolicyName=name,
        PolicyType="StepScaling",
        ScalingTargetId=Ref(ProcessorIds(p.logical_id).scalable_target),
        StepScalingPolicyConfiguration=applicationautoscaling.StepScalingPolicyConfiguration(
            AdjustmentType="ExactCapacity",
            Cooldown=SCALING_COOLDOWN_S,
            # The alarm's latest value, as the steps are written against it.
            MetricAggregationType="Maximum",
            StepAdjustments=steps,
        ),
    )


def scale_out_policy(p: Processor) -> applicationautoscaling.ScalingPolicy:
    steps = []
    for lower, upper, tasks in scale_out_steps(p.props.queued("MaxTasks")):
        bounds: dict[str, int] = {"MetricIntervalLowerBound": lower}
        if upper is not None:
            bounds["MetricIntervalUpperBound"] = upper
        steps.append(applicationautoscaling.StepAdjustment(ScalingAdjustment=tasks, **bounds))
    return _policy(p, ProcessorIds(p.logical_id).scale_out_policy, "backlog", steps)


def scale_in_policy(p: Processor) -> applicationautoscaling.ScalingPolicy:
    """To 0. Below the threshold an upper bound is inclusive, so 0 itself is in the step."""
    step = applicationautoscaling.StepAdjustment(MetricIntervalUpperBound=0, ScalingAdjustment=0)
    return _policy(p, ProcessorIds(p.logical_id).scale_in_policy, "idle", [step])


def backlog_alarm(p: Processor) -> cloudwatch.Alarm:
    ids = ProcessorIds(p.logical_id)
    concurrency = p.props.queued("Concurrency")
    return cloudwatch.Alarm(
        ids.backlog_alarm,
        AlarmDescription=f"Processor {p.logical_id}: uploads are waiting, in flight or "
        f"arriving; its workers scale to the backlog ({concurrency} objects per task, at most "
        f"{p.props.queued('MaxTasks')} tasks)",
        Metrics=_queries(p, "backlog", backlog_expression(concurrency)),
        ComparisonOperator="GreaterThanThreshold",
        Threshold=0,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        # No data: nothing arrived and the queue reports nothing, so nothing to do.
        TreatMissingData="notBreaching",
        AlarmActions=[Ref(ids.scale_out_policy)],
        **tagged(p.props.Tags),
    )


def idle_alarm(p: Processor) -> cloudwatch.Alarm:
    ids = ProcessorIds(p.logical_id)
    periods = idle_periods(p.props.queued("IdleSeconds"))
    return cloudwatch.Alarm(
        ids.idle_alarm,
        AlarmDescription=f"Processor {p.logical_id}: nothing waiting, in flight or arriving "
        f"for {periods * ALARM_PERIOD_S} seconds; its workers scale to 0",
        Metrics=_queries(p, "idle", WORK),
        ComparisonOperator="LessThanOrEqualToThreshold",
        Threshold=0,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        # No data: an inactive queue and a rule that delivered nothing; that is idle.
        TreatMissingData="breaching",
        AlarmActions=[Ref(ids.scale_in_policy)],
        **tagged(p.props.Tags),
    )


def scaling(p: Processor) -> list[Any]:
    """The scalable target, then each policy before the alarm that invokes it."""
    return [
        scalable_target(p),
        scale_out_policy(p),
        backlog_alarm(p),
        scale_in_policy(p),
        idle_alarm(p),
    ]
