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

from collections.abc import Mapping
from typing import Any

# One sentence each: the text is repeated on every resource it suppresses (at 40
# processors, each added word costs about 1 KB of the 1 MB template), and DESIGN.md,
# "Control Tower proactive controls (cfn-guard)", gives the longer reasons.
REASONS = {
    "s3_bucket_logging_enabled_check": (
        "Access logs need a second bucket the user owns; CloudTrail S3 data events are the "
        "alternative."
    ),
    "s3_bucket_object_lock_enabled_check": (
        "A bucket of work, not an archive: Object Lock cannot be undone; versioning keeps "
        "overwritten objects."
    ),
    "s3_bucket_default_encryption_kms_check": "SSE-S3; set KmsKeyArn for SSE-KMS.",
    "cloudwatch_log_group_encrypted_check": ("The Logs service key; KmsScope: All uses KmsKeyArn."),
    "cloudwatch_log_group_retention_period_check": (
        "LogRetentionInDays (default 30) chooses; 365 or more satisfies the rule."
    ),
    "ecs_task_definition_nonroot_user_check": (
        "User unset: the image's USER applies (the shipped worker's is 10001)."
    ),
    "sqs_dlq_check": "It is a dead-letter queue.",
    "step_functions_state_machine_tracing_enabled_check": (
        "X-Ray bills per trace; Tracing: true turns it on."
    ),
    # The macro stack (template.py).
    "lambda_inside_vpc_check": (
        "The macro holds no data and calls only EC2; a VPC would add a NAT or endpoint for nothing."
    ),
}

# A rule that fails only because it cannot read an intrinsic key ARN (encryption.py): it
# accepts a literal ARN or a Ref/GetAtt of a key in the same template.
UNREADABLE_KEY = "Encrypted with KmsKeyArn, an intrinsic the rule cannot read."
# The macro stack's log groups: retention is a parameter, which the rule cannot compare.
MACRO_LOG_RETENTION = "Retention is the LogRetentionInDays parameter, which the rule cannot read."


def suppressions(*rules: str, reasons: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"guard": {...}}`` for resource Metadata; ``{}`` when ``rules`` is empty.
    ``reasons`` replaces REASONS' text for a rule that fails here for another cause."""
    if not rules:
        return {}
    told = {**REASONS, **(reasons or {})}
    return {
        "guard": {
            "SuppressedRules": list(rules),
            "Reasons": {rule: told[rule] for rule in rules},
        }
    }


def metadata_keyword(*parts: dict[str, Any]) -> dict[str, Any]:
    """``Metadata=`` keyword for a resource: nothing at all when the parts are empty (as
    ``cfn.tagged`` for Tags)."""
    merged = metadata(*parts)
    return {"Metadata": merged} if merged else {}


def metadata(*parts: dict[str, Any]) -> dict[str, Any]:
    """Resource Metadata from ``checkov.skips(...)`` and ``suppressions(...)`` parts."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged
