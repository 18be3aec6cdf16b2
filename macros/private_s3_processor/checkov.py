"""Checks of checkov that the expansion deliberately does not satisfy, with the reason.

Each reason lands in the resource's ``Metadata.checkov.skip``, so a reviewer of
the deployed template reads why, and ``tests/test_security.py`` fails on any
failed check that is not listed here.
"""

from __future__ import annotations

from typing import Any

REASONS = {
    "CKV_AWS_18": (
        "Access logging needs a second bucket the user chooses; S3 data events in CloudTrail "
        "are the documented alternative. Object access is already limited to the VPC endpoint."
    ),
    "CKV_AWS_145": ("SSE-S3 by default; set KmsKeyArn for SSE-KMS with a customer managed key."),
    "CKV_AWS_158": (
        "Encrypted with the CloudWatch Logs service key; a customer managed key would need a "
        "key policy for the logs service, which the user owns."
    ),
    "CKV_AWS_27": (
        "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled). A KMS key would need "
        "a key policy for events.amazonaws.com, which the AWS managed alias/aws/sqs key cannot "
        "have, so EventBridge could not dead-letter into it."
    ),
    "CKV_AWS_111": (
        "ecr:GetAuthorizationToken has no resource-level permissions; it is the only action on "
        "'*' and grants no write access to anything."
    ),
    "CKV_AWS_107": (
        "ecr:GetAuthorizationToken returns a registry login token, which the execution role "
        "needs to pull the image; it has no resource-level form."
    ),
    # The macro function (template.py).
    "CKV_AWS_115": (
        "CloudFormation calls the macro once per change set; reserving concurrency would only "
        "take it from the account's pool."
    ),
    "CKV_AWS_116": (
        "Invoked synchronously by CloudFormation, which reports failures; there is no "
        "asynchronous event to dead-letter."
    ),
    "CKV_AWS_117": (
        "The macro holds no data and calls only the EC2 API; in a VPC it would need endpoints "
        "for nothing gained."
    ),
    "CKV_AWS_173": "The macro function has no environment variables to encrypt.",
}


def skips(*check_ids: str) -> dict[str, Any]:
    """``{"checkov": {"skip": [...]}}`` for resource Metadata."""
    return {"checkov": {"skip": [{"id": c, "comment": REASONS[c]} for c in check_ids]}}
