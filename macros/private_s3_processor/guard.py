"""AWS Control Tower proactive controls (cfn-guard rules) the expansion deliberately does
not satisfy on a resource, with the reason.

A suppression lands in the resource's ``Metadata.guard``: ``SuppressedRules`` lists the
rule names as cfn-guard reports them (the form the AWS Guard Rules Registry's own rules
read), and ``Reasons`` says why for each. ``tests/test_guard.py`` runs every rule over
every expanded output and fails on a failure not suppressed here, on a suppression
without a reason, and on one that suppresses nothing: so a suppression is added only
where the rule really fails on that resource, under the same conditions.
"""

from __future__ import annotations

from typing import Any

REASONS = {
    "s3_bucket_logging_enabled_check": (
        "Server access logging needs a second bucket the user chooses (and owns the "
        "retention of); S3 data events in CloudTrail are the documented alternative. Object "
        "access is already limited to the VPC endpoint and the listed principals."
    ),
    "s3_bucket_object_lock_enabled_check": (
        "An upload bucket is a queue of work, not an archive: Object Lock cannot be turned "
        "off once on, and a retention period would keep every version the lifecycle is meant "
        "to expire. Versioning is on, so an overwritten or deleted object stays recoverable."
    ),
    "s3_bucket_default_encryption_kms_check": (
        "SSE-S3 by default; set KmsKeyArn for SSE-KMS with a customer managed key (the "
        "AWS managed aws/s3 key adds a KMS call per object and no control)."
    ),
    "cloudwatch_log_group_encrypted_check": (
        "Encrypted with the CloudWatch Logs service key. Set KmsKeyArn with KmsScope: All to "
        "use a customer managed key; its key policy must admit the logs service, which only "
        "the key's owner can grant."
    ),
    "cloudwatch_log_group_retention_period_check": (
        "Kept LogRetentionInDays (default 30) because these logs hold per-object output and "
        "are billed per GB-month; set LogRetentionInDays to 365 or more where a year is "
        "required. Failed events are kept separately, in the dead-letter queue."
    ),
    "ecs_task_definition_nonroot_user_check": (
        "User is not set, so the image's own USER applies: the shipped worker image runs as "
        "10001. Set User for an image of your own that does not declare a non-root user."
    ),
    "sqs_dlq_check": (
        "This queue is itself a dead-letter queue (of the EventBridge rule, or of the work "
        "queue); a dead-letter queue of a dead-letter queue would only move the same "
        "messages again. Its 14-day retention and alarms are what keep them."
    ),
    "step_functions_state_machine_tracing_enabled_check": (
        "X-Ray tracing is off by default because X-Ray bills each trace recorded beyond its "
        "free tier; the state machine logs every failed execution with its input. Set "
        "Tracing: true to turn it on."
    ),
    # The macro function (template.py).
    "lambda_inside_vpc_check": (
        "The macro holds no data and calls only the EC2 API (DescribeManagedPrefixLists); in "
        "a VPC it would need a NAT or an EC2 endpoint for nothing gained."
    ),
}


def suppressions(*rules: str) -> dict[str, Any]:
    """``{"guard": {...}}`` for resource Metadata; ``{}`` when ``rules`` is empty."""
    if not rules:
        return {}
    return {
        "guard": {
            "SuppressedRules": list(rules),
            "Reasons": {rule: REASONS[rule] for rule in rules},
        }
    }


def metadata(*parts: dict[str, Any]) -> dict[str, Any]:
    """Resource Metadata from ``checkov.skips(...)`` and ``suppressions(...)`` parts."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged
