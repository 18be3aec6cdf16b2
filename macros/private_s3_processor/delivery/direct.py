"""``Delivery: Direct``: the rule's target is the ECS task itself.

The rule runs the task with ``RunTask`` and hands it the event through an
InputTransformer. EventBridge counts a launch as delivered once ECS accepts
``RunTask``, so a task that then fails (non-zero exit, or never started) reaches
neither the retry policy nor the dead-letter queue: a second rule, on ECS "Task State
Change", sends those to the dead-letter queue too (DESIGN.md, "Failed tasks").
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from troposphere import AWSObject, GetAtt, Ref, Sub, events

from ..access import (
    InlinePolicy,
    pass_task_roles_statement,
    run_task_statement,
    tag_started_tasks_statement,
)
from ..cfn import tagged
from ..names import CLUSTER, ProcessorIds
from ..network import NetworkRefs
from ..rules import FAILURE_STOP_CODES, NON_FAILURE_EXIT_CODES
from ..spec import Processor
from ..task import CONTAINER_NAME, security_groups
from .base import DeliveryMode

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


def failure_pattern(p: Processor) -> dict[str, Any]:
    """STOPPED tasks of this processor's family in the cluster that failed: an exit code
    other than the worker's outcomes, or a stop code meaning the work never ran."""
    family = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/"
        f"${{AWS::StackName}}-{p.logical_id}:"
    )
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [GetAtt(CLUSTER, "Arn")],
            "lastStatus": ["STOPPED"],
            "taskDefinitionArn": [{"prefix": family}],
            "$or": [
                {"stopCode": list(FAILURE_STOP_CODES)},
                {"containers": {"exitCode": [{"anything-but": list(NON_FAILURE_EXIT_CODES)}]}},
            ],
        },
    }


def failure_rule(p: Processor) -> events.Rule:
    ids = ProcessorIds(p.logical_id)
    return events.Rule(
        ids.failure_rule,
        Description=f"Failed tasks of processor {p.logical_id} go to its dead-letter queue",
        EventPattern=failure_pattern(p),
        State="ENABLED",
        Targets=[events.Target(Id="failures", Arn=GetAtt(ids.dead_letter_queue, "Arn"))],
        **tagged(p.props.Tags),
    )


class Direct(DeliveryMode):
    name: ClassVar[str] = "Direct"
    own_resources: ClassVar[int] = 1  # the failure rule

    def target(self, p: Processor, net: NetworkRefs) -> events.Target:
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
        )

    def rule_permissions(self, p: Processor) -> InlinePolicy:
        """RunTask on this family in this cluster, PassRole on the two task roles to ECS
        tasks only, and tagging the tasks it starts."""
        return InlinePolicy(
            "run-task",
            [run_task_statement(p), tag_started_tasks_statement(p), pass_task_roles_statement(p)],
        )

    def resources(self, p: Processor, net: NetworkRefs) -> list[AWSObject]:
        return [failure_rule(p)]

    def dead_letter_senders(self, ids: ProcessorIds) -> list[str]:
        return [ids.rule, ids.failure_rule]
