"""The EventBridge rule that turns an upload into a task, and its dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, Ref, events, sqs

from .cfn import tagged
from .names import CLUSTER, ProcessorIds
from .network import NetworkRefs
from .queues import rule_queue
from .spec import Processor
from .storage import record_policies
from .task import CONTAINER_NAME, security_groups

# Event fields every "Object Created" event of a versioned bucket carries. A path
# missing from an event would leave its variable uncreated, so only these are used.
INPUT_PATHS = {
    "bucket": "$.detail.bucket.name",
    "key": "$.detail.object.key",
    "size": "$.detail.object.size",
    "etag": "$.detail.object.etag",
    "versionId": "$.detail.object.version-id",
}
ENVIRONMENT_FROM_EVENT = (
    ("S3_BUCKET", "bucket"),
    ("S3_KEY", "key"),
    ("S3_SIZE", "size"),
    ("S3_ETAG", "etag"),
    ("S3_VERSION_ID", "versionId"),
)


def wildcard_literal(text: str) -> str:
    """``text`` matched literally inside an EventBridge ``wildcard`` pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def key_filter(prefix: str, suffix: str) -> list[Any] | None:
    """The ``detail.object.key`` filter: prefix AND suffix, or None for every key.

    Values in one EventBridge array are OR'd, so ``[{prefix}, {suffix}]`` would be the
    original design's bug. ``wildcard`` ``<prefix>*<suffix>`` is the AND, except for
    keys where the prefix and the suffix overlap (prefix ``a.csv``, suffix ``.csv``,
    key ``a.csv``): those few keys are listed exactly beside it.
    """
    if prefix and suffix:
        values: list[Any] = [{"wildcard": f"{wildcard_literal(prefix)}*{wildcard_literal(suffix)}"}]
        for overlap in range(1, min(len(prefix), len(suffix)) + 1):
            if prefix.endswith(suffix[:overlap]):
                key = prefix + suffix[overlap:]
                if key not in values:
                    values.append(key)
        return values
    if prefix:
        return [{"prefix": prefix}]
    if suffix:
        return [{"suffix": suffix}]
    return None


def event_pattern(p: Processor) -> dict[str, Any]:
    ids = ProcessorIds(p.logical_id)
    detail: dict[str, Any] = {"bucket": {"name": [Ref(ids.bucket)]}}
    keys = key_filter(p.props.Prefix, p.props.Suffix)
    if keys is not None:
        detail["object"] = {"key": keys}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def input_template() -> str:
    """containerOverrides for the ``worker`` container, filled from the event.

    EventBridge inserts each ``<var>`` as the event's raw value; quoted, a number
    becomes a string, as ECS environment values must be. Values are not
    JSON-escaped, so a key holding ``"`` or ``\\`` makes the input invalid and the
    launch goes to the dead-letter queue (README, "Keys").
    """
    overrides = {
        "containerOverrides": [
            {
                "name": CONTAINER_NAME,
                "environment": [
                    {"name": name, "value": f"<{var}>"} for name, var in ENVIRONMENT_FROM_EVENT
                ],
            }
        ]
    }
    return json.dumps(overrides, separators=(",", ":"))


def rule(p: Processor, net: NetworkRefs) -> events.Rule:
    ids = ProcessorIds(p.logical_id)
    props = p.props
    retry = events.RetryPolicy(
        MaximumRetryAttempts=props.RetryAttempts,
        MaximumEventAgeInSeconds=props.MaximumEventAgeInSeconds,
    )
    dead_letter = events.DeadLetterConfig(Arn=GetAtt(ids.dead_letter_queue, "Arn"))
    if p.orchestrated:
        # The whole event is the execution's input; the state machine builds the
        # overrides with JSONPath (orchestration.py).
        target = events.Target(
            Id="orchestrator",
            Arn=Ref(ids.state_machine),
            RoleArn=GetAtt(ids.events_role, "Arn"),
            RetryPolicy=retry,
            DeadLetterConfig=dead_letter,
        )
    else:
        target = _ecs_target(p, net, retry, dead_letter)
    return events.Rule(
        ids.rule,
        Description=f"Uploads to the bucket of processor {p.logical_id} start its Fargate task",
        EventPattern=event_pattern(p),
        State="ENABLED",
        Targets=[target],
        **tagged(props.Tags),
    )


def _ecs_target(
    p: Processor, net: NetworkRefs, retry: events.RetryPolicy, dead_letter: events.DeadLetterConfig
) -> events.Target:
    ids = ProcessorIds(p.logical_id)
    return events.Target(
        Id="worker",
        Arn=GetAtt(CLUSTER, "Arn"),
        RoleArn=GetAtt(ids.events_role, "Arn"),
        EcsParameters=events.EcsParameters(
            TaskDefinitionArn=Ref(ids.task_definition),
            TaskCount=1,
            LaunchType="FARGATE",
            PlatformVersion="LATEST",
            NetworkConfiguration=events.NetworkConfiguration(
                AwsVpcConfiguration=events.AwsVpcConfiguration(
                    Subnets=net.subnets,
                    SecurityGroups=security_groups(p, net),
                    AssignPublicIp="DISABLED",
                )
            ),
            EnableECSManagedTags=True,
            PropagateTags="TASK_DEFINITION",
        ),
        InputTransformer=events.InputTransformer(
            InputPathsMap=INPUT_PATHS, InputTemplate=input_template()
        ),
        RetryPolicy=retry,
        DeadLetterConfig=dead_letter,
    )


def dead_letter_queue(p: Processor) -> list[sqs.Queue | sqs.QueuePolicy]:
    """Every upload not processed, with the reason, in one queue: launches EventBridge
    could not make and (Direct) the failure rule's failed tasks, or (Orchestrated) what
    the state machine gave up on. Only the processor's rules may send; the state
    machine sends with its role."""
    ids = ProcessorIds(p.logical_id)
    rules = [ids.rule] if p.orchestrated else [ids.rule, ids.failure_rule]
    return rule_queue(
        ids.dead_letter_queue, ids.dead_letter_queue_policy, rules, p.props.Tags, record_policies(p)
    )
