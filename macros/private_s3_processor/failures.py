"""Failures made visible: a task that stopped without doing its work lands in the
processor's dead-letter queue, and a queue with messages raises an alarm.

EventBridge counts a launch as delivered once ECS accepts ``RunTask``, so a task
that then fails (non-zero exit, or never started) reaches neither the retry policy
nor the dead-letter queue. A rule on ECS "Task State Change" catches those.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Sub, cloudwatch, events

from .cfn import tagged, user
from .names import CLUSTER, ProcessorIds
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
        Description=f"Failed tasks of processor {p.logical_id} go to its dead-letter queue",
        EventPattern=failure_pattern(p),
        State="ENABLED",
        Targets=[events.Target(Id="failures", Arn=GetAtt(ids.dead_letter_queue, "Arn"))],
        **tagged(p.props.Tags),
    )
    return [rule]


def alarms(p: Processor) -> list[cloudwatch.Alarm]:
    """With ``AlarmTopicArn``: an alarm as soon as the dead-letter queue holds a message."""
    if p.props.AlarmTopicArn is None:
        return []
    ids = ProcessorIds(p.logical_id)
    topic = user(p.props.AlarmTopicArn)
    alarm = cloudwatch.Alarm(
        ids.dead_letter_alarm,
        AlarmDescription=f"Processor {p.logical_id}: uploads that were not processed are "
        "waiting in its dead-letter queue (private-s3-processor redrive re-submits them)",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[
            cloudwatch.MetricDimension(
                Name="QueueName", Value=GetAtt(ids.dead_letter_queue, "QueueName")
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
    return [alarm]
