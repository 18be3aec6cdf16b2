"""``Delivery: Queued``: the rule sends the whole event to the processor's SQS queue, and an
ECS service of workers, scaled from 0 to ``MaxTasks`` on the queue's backlog, drains it.

Why a queue: one Fargate task per upload meets Fargate's launch quotas as soon as a
folder is uploaded, and pays Fargate's one-minute minimum per file. Here a worker task
holds ``Concurrency`` objects at once and takes the next message when one is done, and
the queue absorbs any burst. No InputTransformer: the message is the event as
EventBridge received it, so every legal key arrives intact (SPEC section 4).

The rule keeps its retry policy and dead-letter queue, like every mode (a message
EventBridge could not deliver to the queue lands there). The dead-letter queue is also
the queue's redrive target: a message received ``MaxReceiveCount`` times without being
deleted moves there. No failure rule and no events role: an SQS target is authorised by
the queue's policy. The scaling resources are in ``autoscaling.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from troposphere import AWSObject, GetAtt, Ref, ecs, events, sqs

from ..access import InlinePolicy, owner_condition, queue_key_statements
from ..cfn import Target, arn, tagged
from ..encryption import queue_encryption, queue_metadata
from ..failures import work_queue_alarm
from ..guard import metadata_keyword
from ..names import CLUSTER, ProcessorIds
from ..network import NetworkRefs
from ..queues import only_rules_policy
from ..rules import (
    FARGATE_MAX_STOP_TIMEOUT_S,
    QUEUE_RECEIVE_WAIT_S,
    QUEUE_RETENTION_S,
    QUEUED_INTERFACE_ENDPOINTS,
)
from ..spec import Processor
from ..storage import record_policies
from ..task import Container, security_groups
from .autoscaling import scaling
from .base import DeliveryMode

# Mode: Test with Queued: the worker runs as in production (it reads the queue) with a
# processor that echoes the S3 values it received and sleeps (TEST_SLEEP_SECONDS).
TEST_PROCESSOR = "private_s3_worker.testing:echo"


def queue(p: Processor) -> sqs.Queue:
    """Encrypted; long polling; kept like the dead-letter queue (it holds uploads not yet
    processed); each message redriven to the dead-letter queue after MaxReceiveCount
    receives, and kept for less time than the dead-letter queue keeps it (rules.py)."""
    ids = ProcessorIds(p.logical_id)
    return sqs.Queue(
        ids.queue,
        **record_policies(p),
        **queue_encryption(p),
        VisibilityTimeout=p.props.queued("VisibilityTimeoutSeconds"),
        ReceiveMessageWaitTimeSeconds=QUEUE_RECEIVE_WAIT_S,
        MessageRetentionPeriod=QUEUE_RETENTION_S,
        RedrivePolicy=sqs.RedrivePolicy(
            deadLetterTargetArn=GetAtt(ids.dead_letter_queue, "Arn"),
            maxReceiveCount=p.props.queued("MaxReceiveCount"),
        ),
        **tagged(p.props.Tags),
        **metadata_keyword(queue_metadata(p, dead_letter=False)),
    )


def service(p: Processor, net: NetworkRefs) -> ecs.Service:
    """The workers: Fargate tasks of the processor's task definition in its private subnets
    and security groups, none until there is work.

    DesiredCount 0, written: a stack update that changes the service (a new task
    definition) sets the count back to 0, and the backlog alarm, which stays in ALARM while
    work remains and invokes its policy every minute, restores it within about a minute;
    tasks holding scale-in protection keep working through it. Leaving the count out would
    keep the scaled count across updates ("For existing services, if a desired count is
    not specified, it is omitted from the operation", AWS::ECS::Service, DesiredCount), but
    a new service would start one task, possibly before the stack's VPC endpoints exist, so
    its image pull would fail the stack (DESIGN.md, "Delivery: Queued"). The deployment
    circuit breaker rolls back a deployment whose tasks fail to start; tasks that hold
    scale-in protection finish their work before a deployment replaces them."""
    ids = ProcessorIds(p.logical_id)
    return ecs.Service(
        ids.service,
        Cluster=Ref(CLUSTER),
        TaskDefinition=Ref(ids.task_definition),
        DesiredCount=0,
        LaunchType="FARGATE",
        PlatformVersion="LATEST",
        NetworkConfiguration=ecs.NetworkConfiguration(
            AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                Subnets=net.subnets,
                SecurityGroups=security_groups(p, net),
                AssignPublicIp="DISABLED",
            )
        ),
        DeploymentConfiguration=ecs.DeploymentConfiguration(
            DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            MinimumHealthyPercent=100,
            MaximumPercent=200,
        ),
        EnableECSManagedTags=True,
        PropagateTags="TASK_DEFINITION",
        **tagged(p.props.Tags),
    )


def worker_statements(p: Processor) -> list[dict[str, Any]]:
    """The task role's part in this mode: exactly the queue actions the worker uses, on its
    own queue (and the user's key to read it, when it encrypts the queue); and task
    scale-in protection, which the ECS agent's endpoint sets with the task role's
    credentials (ecs:UpdateTaskProtection to set, ecs:GetTaskProtection to read; ECS
    Developer Guide, "Amazon ECS task scale-in protection endpoint"). IAM scopes those two
    to task ARNs (task/<cluster>/<task id>), the ecs:cluster key and the task's tags: a
    task ID is known only once the task runs, so the grant is the cluster's tasks that
    carry this processor's owner tag, which the service propagates to every task it
    starts. Another processor's role cannot hold these tasks from a scale-in."""
    ids = ProcessorIds(p.logical_id)
    return [
        {
            "Sid": "ConsumeOwnQueue",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
            "Resource": GetAtt(ids.queue, "Arn"),
        },
        # Only ReceiveMessage decrypts; deleting and changing visibility use no key.
        *queue_key_statements(p, "ReadOwnQueue", ["kms:Decrypt"]),
        {
            "Sid": "TaskScaleInProtection",
            "Effect": "Allow",
            "Action": ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"],
            "Resource": arn("ecs", f"task/${{{CLUSTER}}}/*"),
            "Condition": {
                "ArnEquals": {"ecs:cluster": GetAtt(CLUSTER, "Arn")},
                "StringEquals": owner_condition(p),
            },
        },
    ]


class Queued(DeliveryMode):
    name: ClassVar[str] = "Queued"
    # The queue and its policy, the service, the scalable target, two policies, two alarms.
    own_resources: ClassVar[int] = 8
    events_role: ClassVar[bool] = False
    interface_endpoints: ClassVar[tuple[str, ...]] = QUEUED_INTERFACE_ENDPOINTS

    def target(self, p: Processor, net: NetworkRefs) -> events.Target:
        """The queue, with the whole event as the message: no InputTransformer, Input or
        InputPath."""
        return events.Target(Id="queue", Arn=GetAtt(ProcessorIds(p.logical_id).queue, "Arn"))

    def rule_permissions(self, p: Processor) -> InlinePolicy | None:
        """None: the queue's policy admits the rule (an SQS target takes no role)."""
        return None

    def resources(self, p: Processor, net: NetworkRefs) -> list[AWSObject]:
        ids = ProcessorIds(p.logical_id)
        return [
            queue(p),
            only_rules_policy(ids.queue_policy, ids.queue, [ids.rule]),
            service(p, net),
            *scaling(p),
            *work_queue_alarm(p),
        ]

    def dead_letter_senders(self, ids: ProcessorIds) -> list[str]:
        # The redrive policy moves messages from the queue without any policy's leave.
        return [ids.rule]

    def task_permissions(self, p: Processor) -> list[dict[str, Any]]:
        return worker_statements(p)

    def container(self, p: Processor) -> Container:
        """QUEUE_URL selects the worker's queue mode; StopTimeout is Fargate's maximum, the
        time the worker gets after SIGTERM to finish or release what it holds."""
        props = p.props
        return Container(
            environment=(
                ("QUEUE_URL", Ref(ProcessorIds(p.logical_id).queue)),
                ("QUEUE_CONCURRENCY", str(props.queued("Concurrency"))),
                ("QUEUE_VISIBILITY_TIMEOUT", str(props.queued("VisibilityTimeoutSeconds"))),
                ("QUEUE_STOP_TIMEOUT", str(FARGATE_MAX_STOP_TIMEOUT_S)),
            ),
            stop_timeout=FARGATE_MAX_STOP_TIMEOUT_S,
            test_script=False,
            test_environment=(("PROCESSOR", TEST_PROCESSOR),),
        )

    def attributes(self, ids: ProcessorIds) -> dict[str, Target]:
        return {
            "QueueUrl": Target(ids.queue),
            "QueueArn": Target(ids.queue, "Arn"),
            "ServiceName": Target(ids.service, "Name"),
            "ServiceArn": Target(ids.service),
        }
