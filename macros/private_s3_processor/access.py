"""IAM: the task role, the execution role and the role EventBridge uses to deliver.

Least privilege (SPEC semantics 3): every statement names its resources. ``*`` only
where IAM has no resource-level form: ``ecr:GetAuthorizationToken`` here, the state
machine's log delivery and X-Ray actions (``delivery/orchestrated.py``).

The cluster is shared by every processor of the stack, so an action on its tasks is also
limited to the processor's own tasks by their owner tag (``names.OWNER_TAG``, the task
definition's tag, which RunTask and the Queued service propagate to each task):
``owner_condition``. ECS evaluates ``aws:ResourceTag`` for StopTask and the task
protection actions, and ``aws:RequestTag`` for TagResource (Service Authorization
Reference, "Actions, resources, and condition keys for Amazon ECS"; ECS Developer Guide,
"Control access to Amazon ECS resources using resource tags").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Ref, Sub, iam

from .cfn import arn, bucket_arn, tagged, user
from .checkov import skips
from .encryption import shared_key
from .names import CLUSTER, OWNER_TAG, ProcessorIds
from .spec import Processor
from .task import family

POLICY_VERSION = "2012-10-17"


def iam_literal(text: str) -> str:
    """``text`` as a literal inside an IAM resource or a StringLike condition.

    IAM reads ``*`` and ``?`` there as wildcards and ``${...}`` as a policy variable;
    its own variables ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters.
    Inside an Fn::Sub string it must be escaped once more (``bucket_arn`` does).
    """
    return "".join({"*": "${*}", "?": "${?}", "$": "${$}"}.get(char, char) for char in text)


def trust(service: str, condition: dict[str, Any]) -> dict[str, Any]:
    """A trust policy letting ``service`` assume the role under ``condition``."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ],
    }


def role(
    logical_id: str,
    trust: dict[str, Any],
    policy_name: str,
    statements: list[dict[str, Any]],
    tag_values: Mapping[str, Any],
) -> iam.Role:
    """A role with one inline policy of ``statements``."""
    return iam.Role(
        logical_id,
        AssumeRolePolicyDocument=trust,
        Policies=[
            iam.Policy(
                PolicyName=policy_name,
                PolicyDocument={"Version": POLICY_VERSION, "Statement": statements},
            )
        ],
        **tagged(tag_values),
    )


def _ecs_tasks_trust() -> dict[str, Any]:
    # The confused-deputy guard ECS documents for task and execution roles.
    return trust(
        "ecs-tasks.amazonaws.com",
        {
            "ArnLike": {"aws:SourceArn": arn("ecs", "*")},
            "StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")},
        },
    )


def task_role(p: Processor, mode_statements: list[dict[str, Any]] | None = None) -> iam.Role:
    """Read under Prefix, write under OutputPrefix, list only those prefixes; and what the
    processor's delivery mode needs (``mode_statements``, ``delivery/``)."""
    ids = ProcessorIds(p.logical_id)
    props = p.props
    read = iam_literal(props.Prefix)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTriggeringObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": bucket_arn(ids.bucket, f"/{read}*"),
        }
    ]
    listed = [f"{read}*"]
    if props.OutputPrefix is not None:
        write = iam_literal(props.OutputPrefix)
        listed.append(f"{write}*")
        statements.append(
            {
                "Sid": "WriteOutputs",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": bucket_arn(ids.bucket, f"/{write}*"),
            }
        )
    # ListBucketVersions lets the worker tell a key EventBridge changed in transit (no
    # version, no delete marker) from a deleted object. Both actions take the s3:prefix
    # condition key (Service Authorization Reference, "Actions, resources, and condition
    # keys for Amazon S3"), so one statement keeps both to the same prefixes.
    list_statement: dict[str, Any] = {
        "Sid": "ListOwnPrefixes",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
        "Resource": bucket_arn(ids.bucket),
    }
    if props.Prefix or props.OutputPrefix is not None:
        list_statement["Condition"] = {"StringLike": {"s3:prefix": listed}}
    statements.append(list_statement)
    if props.KmsKeyArn is not None:
        actions = ["kms:Decrypt"]
        if props.OutputPrefix is not None:
            actions.append("kms:GenerateDataKey")
        # Only through S3, not as a general-purpose decrypt grant.
        statements.append(key_via("UseBucketKey", actions, user(props.KmsKeyArn), "s3"))
    statements += mode_statements or []
    return role(ids.task_role, _ecs_tasks_trust(), "objects", statements, props.Tags)


def execution_role(p: Processor) -> iam.Role:
    """Pull the image from its repository and write the processor's own log group."""
    ids = ProcessorIds(p.logical_id)
    repo = p.repository
    if repo.name is not None:
        repository = Sub(
            f"arn:${{AWS::Partition}}:ecr:{repo.region}:{repo.account}:repository/{repo.name}"
        )
    else:
        # Image given by an intrinsic the transform cannot evaluate: any repository of
        # this account and region (documented in the README).
        repository = arn("ecr", "repository/*")
    statements = [
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            # GetAuthorizationToken has no resource-level permissions: "*" is the only form.
            "Resource": "*",
        },
        {
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ],
            "Resource": repository,
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": GetAtt(ids.log_group, "Arn"),
        },
    ]
    execution = role(
        ids.execution_role, _ecs_tasks_trust(), "pull-and-log", statements, p.props.Tags
    )
    execution.Metadata = skips("CKV_AWS_111", "CKV_AWS_107")
    return execution


@dataclass(frozen=True)
class InlinePolicy:
    """A role's one inline policy: its name and statements."""

    name: str
    statements: list[dict[str, Any]]


def events_role(p: Processor, policy: InlinePolicy) -> iam.Role:
    """The role the rule uses to deliver to its target, with what the processor's
    delivery mode says the target needs (``delivery/``)."""
    events = trust(
        "events.amazonaws.com", {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}
    )
    return role(
        ProcessorIds(p.logical_id).events_role, events, policy.name, policy.statements, p.props.Tags
    )


# Statements both a rule (Direct) and a state machine (Orchestrated) need to start tasks.


def run_task_statement(p: Processor) -> dict[str, Any]:
    """RunTask on this processor's task family, in this cluster only."""
    return {
        "Sid": "RunProcessorTask",
        "Effect": "Allow",
        "Action": "ecs:RunTask",
        "Resource": arn("ecs", f"task-definition/${{AWS::StackName}}-{p.logical_id}:*"),
        "Condition": {"ArnEquals": {"ecs:cluster": GetAtt(CLUSTER, "Arn")}},
    }


def tag_started_tasks_statement(p: Processor) -> dict[str, Any]:
    """Tagging the tasks RunTask starts (EnableECSManagedTags, PropagateTags), never an
    existing task; and the owner tag, if the request carries it, only with this
    processor's family: otherwise a role could start its own task labelled as another
    processor's, which that processor's roles may then stop. IfExists, because the
    reference does not say whether propagated tags count as request tags."""
    return {
        "Sid": "TagStartedTasks",
        "Effect": "Allow",
        "Action": "ecs:TagResource",
        "Resource": arn("ecs", f"task/${{{CLUSTER}}}/*"),
        "Condition": {
            "StringEquals": {"ecs:CreateAction": "RunTask"},
            "StringEqualsIfExists": {f"aws:RequestTag/{OWNER_TAG}": family(p)},
        },
    }


def owner_condition(p: Processor) -> dict[str, Any]:
    """Only tasks whose owner tag is this processor's family (its own tasks)."""
    return {f"aws:ResourceTag/{OWNER_TAG}": family(p)}


def queue_key_statements(p: Processor, sid: str, actions: list[str]) -> list[dict[str, Any]]:
    """The user's key, through SQS only, when it encrypts the queues (KmsScope: All).

    SQS calls KMS with the caller's permissions once per data key reuse period: a producer
    needs kms:GenerateDataKey and kms:Decrypt (Decrypt checks the new data key), a consumer
    kms:Decrypt (SQS Developer Guide, "Key management": "Configure KMS permissions for
    producers" and "... for consumers")."""
    key = shared_key(p)
    return [] if key is None else [key_via(sid, actions, key, "sqs")]


def key_via(sid: str, actions: list[str], key: Any, service: str) -> dict[str, Any]:
    """``actions`` on ``key`` only when ``service`` calls KMS for the role (kms:ViaService),
    not as a general-purpose grant of the key."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": key,
        "Condition": {
            "StringEquals": {"kms:ViaService": Sub(f"{service}.${{AWS::Region}}.amazonaws.com")}
        },
    }


def pass_task_roles_statement(p: Processor) -> dict[str, Any]:
    """PassRole on the two task roles, to ECS tasks only."""
    ids = ProcessorIds(p.logical_id)
    return {
        "Sid": "PassTaskRoles",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": [GetAtt(ids.task_role, "Arn"), GetAtt(ids.execution_role, "Arn")],
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }
