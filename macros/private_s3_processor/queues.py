"""An encrypted SQS queue that only the given EventBridge rules may send to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, Ref, sqs

from .cfn import tagged
from .checkov import skips
from .rules import DEAD_LETTER_RETENTION_S


def rule_queue(
    queue_id: str,
    policy_id: str,
    rule_ids: list[str],
    tag_values: Mapping[str, Any],
    kept: Mapping[str, str] | None = None,
    encryption: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> list[sqs.Queue | sqs.QueuePolicy]:
    """Messages kept 14 days; TLS only; ``SendMessage`` for the rules ``rule_ids`` alone.

    ``kept`` (``DeletionPolicy``/``UpdateReplacePolicy``) goes on the queue, which holds
    the messages, and not on its policy: deleted with the stack, the policy lets nothing
    new arrive in a queue that outlives it. ``encryption``: the queue's SSE properties
    (SQS-managed keys when None); ``metadata``: its Metadata (checkov's skip of a KMS key
    when None)."""
    queue = sqs.Queue(
        queue_id,
        **dict(kept or {}),
        **dict(encryption if encryption is not None else {"SqsManagedSseEnabled": True}),
        MessageRetentionPeriod=DEAD_LETTER_RETENTION_S,
        **tagged(tag_values),
        Metadata=dict(metadata if metadata is not None else skips("CKV_AWS_27")),
    )
    return [queue, only_rules_policy(policy_id, queue_id, rule_ids)]


def only_rules_policy(policy_id: str, queue_id: str, rule_ids: list[str]) -> sqs.QueuePolicy:
    """The queue's policy: ``SendMessage`` for the EventBridge rules ``rule_ids`` alone (by
    their ARN, so no other rule or account can use the same service principal), TLS only."""
    queue_arn = GetAtt(queue_id, "Arn")
    return sqs.QueuePolicy(
        policy_id,
        Queues=[Ref(queue_id)],
        PolicyDocument={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheseRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": [GetAtt(r, "Arn") for r in rule_ids]}
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
    )
