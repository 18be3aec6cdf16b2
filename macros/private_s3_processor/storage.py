"""The bucket and its policy: EventBridge on, private, encrypted, endpoint-only objects."""

from __future__ import annotations

from functools import cache
from typing import Any

from troposphere import GetAtt, Join, Ref, s3

from .cfn import bucket_arn, tagged, user
from .checkov import skips
from .guard import suppressions
from .names import ProcessorIds
from .spec import Processor

# Object reads, writes and deletes: what the aws:sourceVpce deny covers. Bucket
# administration (policy, configuration, deletion of the bucket) stays outside it,
# so CloudFormation and operators can never be locked out (SPEC semantics 4).
OBJECT_ACTIONS = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject"]


@cache
def _same_for_every_bucket() -> dict[str, Any]:
    """Settings every processor's bucket has. Built once and shared (nothing mutates a
    property object after construction): constructing troposphere objects is half of
    an expansion's time, and these are a third of a processor's."""
    return {
        # EventBridge, not S3 notifications: the rule can filter on prefix AND suffix.
        "NotificationConfiguration": s3.NotificationConfiguration(
            EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True)
        ),
        "PublicAccessBlockConfiguration": s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        "OwnershipControls": s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        # Versioned, so each event names one immutable object version for the worker.
        "VersioningConfiguration": s3.VersioningConfiguration(Status="Enabled"),
        "LifecycleConfiguration": s3.LifecycleConfiguration(
            Rules=[
                s3.LifecycleRule(
                    Id="abort-incomplete-uploads",
                    Status="Enabled",
                    AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                        DaysAfterInitiation=7
                    ),
                )
            ]
        ),
    }


def record_policies(p: Processor) -> dict[str, str]:
    """The processor's ``DeletionPolicy`` and ``UpdateReplacePolicy``, as given, for each
    resource that holds a record of its uploads: the bucket (the objects), the dead-letter
    queue (the uploads not processed, its only record of them) and the log groups (what
    happened to each). Delete, Retain and RetainExceptOnCreate apply to any resource
    type; Snapshot, which the transform refuses, only to types that are none of these
    (CloudFormation template reference, "DeletionPolicy attribute"; "UpdateReplacePolicy
    attribute": Delete, Retain, and Snapshot where supported). The queue policy, rules
    and roles get none: deleted with the stack, they let nothing new arrive."""
    found = {"DeletionPolicy": p.deletion_policy, "UpdateReplacePolicy": p.update_replace_policy}
    return {k: v for k, v in found.items() if v is not None}


def bucket(p: Processor) -> s3.Bucket:
    ids = ProcessorIds(p.logical_id)
    props = p.props
    if props.KmsKeyArn is not None:
        default: dict[str, Any] = {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": user(props.KmsKeyArn),
        }
    else:
        default = {"SSEAlgorithm": "AES256"}
    extra: dict[str, Any] = {}
    if props.BucketName is not None:
        extra["BucketName"] = user(props.BucketName)
    own: dict[str, Any] = {"Processor": p.logical_id}
    if p.resolved_from:
        own["ResolvedParameters"] = dict(p.resolved_from)
    # Control Tower's default-encryption control asks for SSE-KMS: it fails exactly when
    # no KmsKeyArn is given (SSE-S3, AES256).
    guard_rules = ["s3_bucket_logging_enabled_check", "s3_bucket_object_lock_enabled_check"]
    if props.KmsKeyArn is None:
        guard_rules.append("s3_bucket_default_encryption_kms_check")
    metadata = {
        **p.metadata,
        "PrivateS3Processor": own,
        **skips("CKV_AWS_18"),
        **suppressions(*guard_rules),
    }
    return s3.Bucket(
        ids.bucket,
        **extra,
        **record_policies(p),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(**default),
                    BucketKeyEnabled=props.KmsKeyArn is not None,
                )
            ]
        ),
        **_same_for_every_bucket(),
        **tagged(props.Tags),
        Metadata=metadata,
    )


def bucket_policy(p: Processor, s3_endpoint: Any | None, vpc: Any) -> s3.BucketPolicy:
    """TLS only; object access only through the VPC endpoint unless exempt."""
    ids = ProcessorIds(p.logical_id)
    props = p.props
    # The objects' ARN as Join of the bucket's Arn attribute and "/*": the same value as
    # bucket_arn(..., "/*") (the Arn attribute is arn:<partition>:s3:::<name>, CloudFormation
    # User Guide, AWS::S3::Bucket, "Return values"), in the one form Control Tower's
    # CT.S3.PR.8 (s3_bucket_policy_ssl_requests_only_check) recognises; it does not read
    # Fn::Sub. The condition value is the string "false", which that rule compares exactly.
    objects = Join("", [GetAtt(ids.bucket, "Arn"), "/*"])
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [GetAtt(ids.bucket, "Arn"), objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if props.RestrictToVpcEndpoint:
        if s3_endpoint is not None:
            condition: dict[str, Any] = {"StringNotEquals": {"aws:sourceVpce": s3_endpoint}}
        else:
            # An existing VPC whose gateway endpoint the user did not name: the VPC is
            # the narrowest thing known, and aws:SourceVpc is set for endpoint traffic.
            condition = {"StringNotEquals": {"aws:SourceVpc": vpc}}
        if props.AllowedPrincipalArns:
            condition["ArnNotLike"] = {"aws:PrincipalArn": user(props.AllowedPrincipalArns)}
        statements.append(
            {
                "Sid": "DenyObjectAccessOutsideVpcEndpoint",
                "Effect": "Deny",
                "Principal": "*",
                "Action": OBJECT_ACTIONS,
                "Resource": bucket_arn(ids.bucket, "/*"),
                "Condition": condition,
            }
        )
    return s3.BucketPolicy(
        ids.bucket_policy,
        Bucket=Ref(ids.bucket),
        PolicyDocument={"Version": "2012-10-17", "Statement": statements},
    )
