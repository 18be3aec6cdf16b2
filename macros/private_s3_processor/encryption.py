"""What ``KmsKeyArn`` encrypts besides the bucket: with ``KmsScope: All``, the processor's
queues and log groups too (``Bucket``, the default, leaves them on their services' keys).

One place decides, so the queue, the log groups, their Metadata (checkov, Control Tower)
and the roles that must use the key agree.
"""

from __future__ import annotations

from typing import Any

from .cfn import user
from .checkov import skips
from .guard import UNREADABLE_KEY, metadata, suppressions
from .spec import Processor

# CloudWatch Logs' retention a Control Tower control asks for (CT.CLOUDWATCH.PR.2).
YEAR_OF_LOGS_DAYS = 365


def shared_key(p: Processor) -> Any | None:
    """The key of the queues and log groups: ``KmsKeyArn`` with ``KmsScope: All``."""
    if p.props.KmsKeyArn is None or p.props.KmsScope != "All":
        return None
    return user(p.props.KmsKeyArn)


def queue_encryption(p: Processor) -> dict[str, Any]:
    """An SQS queue's encryption properties: the key, or SQS-managed SSE."""
    key = shared_key(p)
    if key is None:
        return {"SqsManagedSseEnabled": True}
    # A data key is reused for up to 5 minutes (the default 300 s), which keeps KMS calls
    # to one per queue per 5 minutes rather than one per message.
    return {"KmsMasterKeyId": key}


def _unreadable(p: Processor, readable_types: tuple[str, ...]) -> bool:
    """Whether Control Tower's encryption rules fail to read the shared key: they accept a
    literal ARN, or a Ref/GetAtt of a template resource of ``readable_types``."""
    return (
        shared_key(p) is not None
        and not isinstance(p.props.KmsKeyArn, str)
        and p.kms_key_type not in readable_types
    )


def queue_metadata(p: Processor, dead_letter: bool) -> dict[str, Any]:
    """checkov's skip when on SQS-managed keys; Control Tower's DLQ rule on a DLQ, and its
    encryption rule when it cannot read the key (CT.SQS.PR.2 also reads an alias)."""
    rules = ["sqs_dlq_check"] if dead_letter else []
    if _unreadable(p, ("AWS::KMS::Key", "AWS::KMS::Alias")):
        rules.append("sqs_queue_encrypted_check")
    return metadata(
        skips("CKV_AWS_27") if shared_key(p) is None else {},
        suppressions(*rules, reasons={"sqs_queue_encrypted_check": UNREADABLE_KEY}),
    )


def log_group_encryption(p: Processor) -> dict[str, Any]:
    """A log group's ``KmsKeyId``, when the key covers log groups."""
    key = shared_key(p)
    return {} if key is None else {"KmsKeyId": key}


def log_group_metadata(p: Processor) -> dict[str, Any]:
    """What checkov and Control Tower are told about a processor's log group."""
    rules = []
    if shared_key(p) is None or _unreadable(p, ("AWS::KMS::Key",)):
        rules.append("cloudwatch_log_group_encrypted_check")
    if p.props.LogRetentionInDays < YEAR_OF_LOGS_DAYS:
        rules.append("cloudwatch_log_group_retention_period_check")
    told = {} if shared_key(p) is None else {"cloudwatch_log_group_encrypted_check": UNREADABLE_KEY}
    return metadata(
        skips("CKV_AWS_158") if shared_key(p) is None else {},
        suppressions(*rules, reasons=told),
    )
