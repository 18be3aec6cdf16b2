"""An encrypted SQS queue that only the given EventBridge rules may send to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, Ref, sqs

from .cfn import tagged
from .checkov import skips

RETENTION_S = 14 * 24 * 3600


def rule_queue(
    queue_id: str, policy_id: str, rule_ids: list[str], tag_values: Mapping[str, Any]
) -> list[sqs.Queue | sqs.QueuePolicy]:
    """Messages kept 14 days; TLS only; ``SendMessage`` for the rules ``rule_ids`` alone."""
    queue = sqs.Queue(
        queue_id,
        SqsManagedSseEnabled=True,
        MessageRetentionPeriod=RETENTION_S,
        **tagged(tag_values),
        Metadata=skips("CKV_AWS_27"),
    )
    policy = sqs.QueuePolicy(
        policy_id,
        Queues=[Ref(queue)],
        PolicyDocument={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheseRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": GetAtt(queue, "Arn"),
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": [GetAtt(r, "Arn") for r in rule_ids]}
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": GetAtt(queue, "Arn"),
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
    )
    return [queue, policy]
