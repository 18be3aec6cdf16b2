"""Failures made visible: a task that stopped without doing its work lands in a queue,
and queues with messages raise an alarm.

EventBridge counts a launch as delivered once ECS accepts ``RunTask``, so a task
that then fails (non-zero exit, or never started) reaches neither the retry policy
nor the dead-letter queue. A rule on ECS "Task State Change" catches those.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Sub, cloudwatch, events

from .cfn import tagged, user
from .names import CLUSTER, ProcessorIds
from .queues import rule_queue
from .rules import FAILURE_STOP_CODES, NON_FAILURE_EXIT_CODES
from .spec import Processor


def failure_pattern(p: Processor) -> dict[str, Any]:
    """STOPPED tasks of this processor's family in the cluster that failed: an exit code
    other than the worker's outcomes, or a stop code meaning the work never ran."""
    family = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/"
        f"${{AWS::StackName}}-{p.logical_id}:"
    )
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [GetAtt(CLUSTER, "Arn")],
            "lastStatus": ["STOPPED"],
            "taskDefinitionArn": [{"prefix": family}],
            "$or": [
                {"stopCode": list(FAILURE_STOP_CODES)},
                {"containers": {"exitCode": [{"anything-but": list(NON_FAILURE_EXIT_CODES)}]}},
            ],
        },
    }


def failure_rule(p: Processor) -> list[Any]:
    ids = ProcessorIds(p.logical_id)
    rule = events.Rule(
        ids.failure_rule,
        Description=f"Failed tasks of processor {p.logical_id} go to its failure queue",
        EventPattern=failure_pattern(p),
        State="ENABLED",
        Targets=[events.Target(Id="failures", Arn=GetAtt(ids.failure_queue, "Arn"))],
        **tagged(p.props.Tags),
    )
    queue = rule_queue(ids.failure_queue, ids.failure_queue_policy, ids.failure_rule, p.props.Tags)
    return [rule, *queue]


def alarms(p: Processor) -> list[cloudwatch.Alarm]:
    """With ``AlarmTopicArn``: one alarm per queue, as soon as it holds a message."""
    if p.props.AlarmTopicArn is None:
        return []
    ids = ProcessorIds(p.logical_id)
    topic = user(p.props.AlarmTopicArn)
    made = []
    queues = [(ids.dead_letter_alarm, ids.dead_letter_queue, "launches EventBridge could not make")]
    if p.props.Delivery == "Orchestrated":
        # One queue holds both: uploads the state machine gave up on, with the reason.
        queues = [(ids.dead_letter_alarm, ids.dead_letter_queue, "uploads not processed")]
    else:
        queues.append((ids.failure_alarm, ids.failure_queue, "tasks that failed"))
    for alarm_id, queue_id, what in queues:
        made.append(
            cloudwatch.Alarm(
                alarm_id,
                AlarmDescription=f"Processor {p.logical_id}: {what} are waiting in its queue "
                "(private-s3-processor redrive re-submits them)",
                Namespace="AWS/SQS",
                MetricName="ApproximateNumberOfMessagesVisible",
                Dimensions=[
                    cloudwatch.MetricDimension(
                        Name="QueueName", Value=GetAtt(queue_id, "QueueName")
                    )
                ],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=[topic],
                OKActions=[topic],
                **tagged(p.props.Tags),
            )
        )
    return made
