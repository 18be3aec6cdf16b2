"""Failures made visible: a dead-letter queue with messages raises an alarm, and one
whose oldest message nears expiry raises another.

How a failed upload reaches the queue depends on the delivery mode (``delivery/``: the
failure rule of ``Direct``, the state machine of ``Orchestrated``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, cloudwatch

from .cfn import tagged, user
from .errors import resource_error, shown
from .names import ProcessorIds
from .rules import (
    DEAD_LETTER_AGE_ALARM_S,
    DEAD_LETTER_AGE_PERIOD_S,
    DEAD_LETTER_RETENTION_S,
    QUEUE_AGE_ALARM_S,
    QUEUE_RETENTION_S,
)
from .spec import Processor

# The AWS managed key of SNS, by alias or alias ARN. Its key policy cannot be edited, so it
# never admits cloudwatch.amazonaws.com, and an alarm's notification to a topic encrypted
# with it is dropped: SNS "Key management", "Enable compatibility between event sources
# from AWS services and encrypted topics" (use a customer managed key whose policy allows
# the service kms:Decrypt and kms:GenerateDataKey*).
AWS_MANAGED_SNS_KEY = re.compile(r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?alias/aws/sns")


def topic_errors(
    p: Processor, resources: Mapping[str, Any], parameters: Mapping[str, Any]
) -> list[str]:
    """``AlarmTopicArn`` naming a topic of the same template that is encrypted with the
    AWS managed ``alias/aws/sns``: refused, since CloudWatch could never notify it (and
    says so nowhere but in the alarm's history)."""
    name = _topic_name(p.props.AlarmTopicArn)
    topic = resources.get(name) if name is not None else None
    if not isinstance(topic, Mapping) or topic.get("Type") != "AWS::SNS::Topic":
        return []
    props = topic.get("Properties")
    key = props.get("KmsMasterKeyId") if isinstance(props, Mapping) else None
    text = _key_text(key, parameters)
    if text is None or not AWS_MANAGED_SNS_KEY.fullmatch(text):
        return []
    return [
        resource_error(
            p.logical_id,
            "AlarmTopicArn",
            f"names topic '{name}', which is encrypted with the AWS managed key "
            f"{shown(key) if isinstance(key, Mapping) and 'Fn::Sub' in key else text}: "
            "CloudWatch alarms cannot publish to it (its key policy cannot admit "
            "cloudwatch.amazonaws.com); encrypt the topic with a customer managed key "
            "whose key policy allows cloudwatch.amazonaws.com kms:Decrypt and "
            "kms:GenerateDataKey*",
        )
    ]


# What the pseudo parameters of an ARN written with Fn::Sub can be, for the match above.
_PSEUDO = {"${AWS::Partition}": "aws", "${AWS::Region}": "region", "${AWS::AccountId}": "0" * 12}


def _key_text(key: Any, parameters: Mapping[str, Any]) -> str | None:
    """A topic's KmsMasterKeyId as text: literal, a parameter's value, or a Fn::Sub of the
    pseudo parameters only (the usual way to write the alias ARN); None otherwise."""
    if isinstance(key, Mapping) and set(key) == {"Ref"}:
        key = parameters.get(key["Ref"], key)
    if isinstance(key, Mapping) and set(key) == {"Fn::Sub"}:
        body = key["Fn::Sub"]
        if isinstance(body, list) and len(body) == 2 and body[1] in ({}, None):
            body = body[0]
        if isinstance(body, str):
            for name, value in _PSEUDO.items():
                body = body.replace(name, value)
            key = None if "${" in body else body
    return key if isinstance(key, str) else None


def _topic_name(value: Any) -> str | None:
    """The logical ID a ``Ref``, ``GetAtt <Topic>.TopicArn`` or ``Sub "${Topic}"`` names."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((kind, arg),) = value.items()
    if kind == "Ref" and isinstance(arg, str):
        return arg
    if kind == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        if isinstance(parts, list) and len(parts) == 2 and parts[1] == "TopicArn":
            return str(parts[0])
    if kind == "Fn::Sub" and isinstance(arg, list) and len(arg) == 2 and arg[1] in ({}, None):
        arg = arg[0]
    if kind == "Fn::Sub" and isinstance(arg, str):
        whole = re.fullmatch(r"\$\{([\w]+)(?:\.TopicArn)?\}", arg)
        return whole.group(1) if whole else None
    return None


def alarms(p: Processor) -> list[cloudwatch.Alarm]:
    """With ``AlarmTopicArn``: an alarm as soon as the dead-letter queue holds a message,
    and one when its oldest message has waited long enough to be near expiry."""
    if p.props.AlarmTopicArn is None:
        return []
    ids = ProcessorIds(p.logical_id)
    days, kept_days = DEAD_LETTER_AGE_ALARM_S // 86400, DEAD_LETTER_RETENTION_S // 86400
    return [
        _queue_alarm(
            p,
            ids.dead_letter_alarm,
            f"Processor {p.logical_id}: uploads that were not processed are waiting in its "
            "dead-letter queue (private-s3-processor redrive re-submits them)",
            ("ApproximateNumberOfMessagesVisible", 60, 0),
            ok_too=True,
        ),
        _queue_alarm(
            p,
            ids.dead_letter_age_alarm,
            f"Processor {p.logical_id}: an upload that was not processed has waited {days} "
            f"days in its dead-letter queue; SQS deletes it unread {kept_days} days after it "
            "arrived (private-s3-processor redrive re-submits it)",
            ("ApproximateAgeOfOldestMessage", DEAD_LETTER_AGE_PERIOD_S, DEAD_LETTER_AGE_ALARM_S),
            # No OK notification: the age falls both when redrive empties the queue and
            # when SQS deletes the message unread, and "OK" would tell the second as the first.
            ok_too=False,
        ),
    ]


def work_queue_alarm(p: Processor) -> list[cloudwatch.Alarm]:
    """With ``AlarmTopicArn``, for a processor with a work queue (``Delivery: Queued``): an
    alarm when its oldest message has waited a day. A message no worker ever receives (the
    image cannot be pulled, a quota, a deleted subnet) is never dead-lettered, so neither
    dead-letter alarm sees it; SQS deletes it unread after the queue's retention."""
    if p.props.AlarmTopicArn is None:
        return []
    ids = ProcessorIds(p.logical_id)
    hours, kept_days = QUEUE_AGE_ALARM_S // 3600, QUEUE_RETENTION_S // 86400
    return [
        _queue_alarm(
            p,
            ids.queue_age_alarm,
            f"Processor {p.logical_id}: an upload has waited {hours} hours in its queue "
            f"without being processed (are its workers starting?); SQS deletes it unread "
            f"{kept_days} days after it arrived",
            ("ApproximateAgeOfOldestMessage", DEAD_LETTER_AGE_PERIOD_S, QUEUE_AGE_ALARM_S),
            ok_too=True,
            queue=ids.queue,
        )
    ]


def _queue_alarm(
    p: Processor,
    title: str,
    description: str,
    metric: tuple[str, int, int],
    ok_too: bool,
    queue: str | None = None,
) -> cloudwatch.Alarm:
    """An alarm on the maximum of one of a queue's metrics (the dead-letter queue unless
    ``queue`` names another): ``metric`` is (name, period in seconds, threshold); above
    the threshold notifies the topic."""
    name, period, threshold = metric
    topic = user(p.props.AlarmTopicArn)
    return cloudwatch.Alarm(
        title,
        AlarmDescription=description,
        Namespace="AWS/SQS",
        MetricName=name,
        Dimensions=[
            cloudwatch.MetricDimension(
                Name="QueueName",
                Value=GetAtt(queue or ProcessorIds(p.logical_id).dead_letter_queue, "QueueName"),
            )
        ],
        Statistic="Maximum",
        Period=period,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        # No data: the queue is empty (SQS reports on a queue as long as it holds messages).
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        **({"OKActions": [topic]} if ok_too else {}),
        **tagged(p.props.Tags),
    )
