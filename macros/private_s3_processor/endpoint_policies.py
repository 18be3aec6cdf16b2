"""VPC endpoint policies: the network's half of the data perimeter (SPEC semantics 16).

Without a policy an endpoint allows any principal, with credentials of any account, to
reach any resource of its service: through the S3 gateway endpoint a task holding other
credentials could read or write any bucket in the world. The policies here narrow each
endpoint to what the pipeline uses; the roles and the bucket policy still decide who may
do what (DESIGN.md, "Data perimeter", has the sources and what reaches each endpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from troposphere import GetAtt, Join, Ref, Sub

POLICY_VERSION = "2012-10-17"

# "The size of an endpoint policy cannot exceed 20,480 characters, including white space"
# (AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies").
MAX_ENDPOINT_POLICY_CHARS = 20_480

# The bucket ECR keeps image layers in: Fargate downloads them through the S3 gateway
# endpoint, from URLs ECR signs, so the request is ECR's and the bucket AWS's (Amazon ECR
# User Guide, "Amazon ECR interface VPC endpoints (AWS PrivateLink)", "Minimum Amazon S3
# bucket permissions for Amazon ECR": arn:aws:s3:::prod-region-starport-layer-bucket/*).
# Pulls need s3:GetObject only; the same Region's bucket only (endpoints are regional).
ECR_LAYER_OBJECTS = "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"

# Interface endpoints whose service documents endpoint policies, and the resources every
# call the pipeline makes through them reaches: "*" where a resource may be another
# account's (the image's repository, a KmsKeyArn key) or where the pipeline's resources
# are not fixed; this account's where all of them are its own (the log groups, the
# queues). ecs-telemetry is left out: no AWS page says it supports endpoint policies, and
# for a service that does not, AWS allows full access whatever policy is written
# (PrivateLink Guide, "Control access to VPC endpoints using endpoint policies"), so a
# policy there would only look like a control.
_INTERFACE_RESOURCES: dict[str, str] = {
    "ecr.api": "*",
    "ecr.dkr": "*",
    "ecs": "*",
    "logs": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*",
    "sqs": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*",
    "kms": "*",
}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def _ecr_image_layers() -> dict[str, Any]:
    return {
        "Sid": "EcrImageLayers",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": Sub(ECR_LAYER_OBJECTS),
    }


def s3_gateway_policy(buckets: Sequence[str] | None) -> dict[str, Any]:
    """The S3 gateway endpoint's policy: ``buckets`` (logical IDs) when every S3 user of
    the network is a processor of this template (a created VPC); ``None``: any bucket of
    this account (an existing VPC, which other workloads share). ECR's image layers
    either way. Every S3 action on those buckets: the roles and the bucket policy decide
    which ones each principal may use; this decides which buckets the network reaches."""
    if buckets is None:
        own: dict[str, Any] = {
            "Sid": "AccountBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            # S3 User Guide, "AWS PrivateLink for Amazon S3", "Restricting access to
            # buckets in a specific account from a VPC endpoint".
            "Condition": {"StringEquals": {"aws:ResourceAccount": Ref("AWS::AccountId")}},
        }
    else:
        resources: list[Any] = []
        for bucket in buckets:
            # The object ARN as Fn::Join, the form the bucket policies use (Control Tower's
            # Guard rules read only that form).
            resources += [GetAtt(bucket, "Arn"), Join("", [GetAtt(bucket, "Arn"), "/*"])]
        own = {
            "Sid": "ProcessorBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
        }
    return _document(own, _ecr_image_layers())


def supports_policy(service: str) -> bool:
    """Whether an interface endpoint of ``service`` gets a policy (``interface_policy``)."""
    return service in _INTERFACE_RESOURCES


def interface_policy(service: str) -> dict[str, Any]:
    """An interface endpoint's policy: principals of this account only and, where every
    resource the pipeline reaches is this account's, those resources only. The image may
    be in another account's repository and KmsKeyArn another account's key, so ECR and
    KMS keep every resource."""
    resource = _INTERFACE_RESOURCES[service]
    return _document(
        {
            "Sid": "AccountPrincipals",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": resource if resource == "*" else Sub(resource),
            # StringEquals, not a wildcard: aws:PrincipalAccount is one of the keys an
            # endpoint policy may not match with wildcards (PrivateLink Guide, as above).
            "Condition": {"StringEquals": {"aws:PrincipalAccount": Ref("AWS::AccountId")}},
        }
    )
