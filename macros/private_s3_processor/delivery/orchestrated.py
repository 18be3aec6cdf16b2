"""``Delivery: Orchestrated``: the rule starts a Step Functions state machine that runs
the task and waits for it (``ecs:runTask.sync``).

Why a state machine: EventBridge counts a launch as delivered once ``RunTask``
answers 200, even when the answer lists ``failures[]`` (no capacity, a quota), and a
task that exits non-zero never reaches its retry policy or dead-letter queue. With
``.sync``, Step Functions fails the state on both (``AmazonECS.Unknown``, and
``States.TaskFailed`` with the stopped task as its cause), so the definition can
retry launches and send every upload that still did not get processed, with the
reason, to the processor's dead-letter queue. The overrides are built with JSONPath,
which escapes any key correctly (EventBridge's input template does not). The definition
itself, and what it retries, is in ``workflow.py`` beside this module.
"""

from __future__ import annotations

from typing import Any, ClassVar

from troposphere import AWSObject, GetAtt, Join, Ref, Sub, events, logs, stepfunctions

from ..access import (
    InlinePolicy,
    owner_condition,
    pass_task_roles_statement,
    queue_key_statements,
    role,
    run_task_statement,
    tag_started_tasks_statement,
    trust,
)
from ..cfn import Target, arn, tagged
from ..encryption import log_group_encryption, log_group_metadata
from ..guard import metadata_keyword, suppressions
from ..names import CLUSTER, ProcessorIds
from ..network import NetworkRefs
from ..spec import Processor
from ..storage import record_policies
from ..task import security_groups
from .base import DeliveryMode
from .workflow import definition_string

TRACING_RULE = "step_functions_state_machine_tracing_enabled_check"


def log_group(p: Processor) -> logs.LogGroup:
    # The /aws/vendedlogs/ prefix keeps the log group out of CloudWatch Logs' resource
    # policy, whose size limit otherwise caps how many state machines can log. Kept like
    # the bucket: it holds each failed execution with its input (the S3 event).
    return logs.LogGroup(
        ProcessorIds(p.logical_id).state_machine_log_group,
        **record_policies(p),
        LogGroupName=Sub(f"/aws/vendedlogs/states/${{AWS::StackName}}-{p.logical_id}"),
        RetentionInDays=p.props.LogRetentionInDays,
        **log_group_encryption(p),
        **tagged(p.props.Tags),
        Metadata=log_group_metadata(p),
    )


# Step Functions' log delivery actions have no resource-level permissions ("*" is the
# documented form); they only wire this machine's logging.
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
# What a traced state machine's role needs, on "*" as the Step Functions developer guide
# gives it ("IAM policies for AWS X-Ray"): X-Ray's actions have no resource-level
# permissions (Service Authorization Reference, AWS X-Ray), and these only write trace
# data and read the sampling rules.
XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]


def follow_task_statements(p: Processor) -> list[dict[str, Any]]:
    """What ``ecs:runTask.sync`` needs besides RunTask (Step Functions developer guide, "IAM
    policies for Amazon ECS/AWS Fargate"): DescribeTasks to follow the task, StopTask
    when the execution ends before it, and its managed events rule.

    The documented "*" would let this role stop any task of the shared cluster, other
    processors' included: StopTask is limited to tasks carrying this processor's owner
    tag (``access.owner_condition``), which its own tasks always carry. DescribeTasks
    stays on the cluster's tasks without a tag condition: it only reads, .sync polls it,
    and ECS's guide asks for Describe actions in a statement without conditions ("Control
    access to Amazon ECS resources using resource tags")."""
    tasks = arn("ecs", f"task/${{{CLUSTER}}}/*")
    return [
        {"Sid": "FollowTasks", "Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": tasks},
        {
            "Sid": "StopOwnTasks",
            "Effect": "Allow",
            "Action": "ecs:StopTask",
            "Resource": tasks,
            "Condition": {"StringEquals": owner_condition(p)},
        },
        {
            # .sync learns that a task stopped through this Step Functions managed rule.
            "Sid": "SyncRule",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": arn("events", "rule/StepFunctionsGetEventsForECSTaskRule"),
        },
    ]


def state_machine_role(p: Processor) -> Any:
    """Run this family in this cluster and follow its tasks (.sync), pass the two task
    roles to ECS, send to the processor's dead-letter queue (with the user's key when it
    encrypts the queue), deliver its logs, and its traces when ``Tracing`` is on."""
    ids = ProcessorIds(p.logical_id)
    statements: list[dict[str, Any]] = [
        run_task_statement(p),
        tag_started_tasks_statement(p),
        *follow_task_statements(p),
        pass_task_roles_statement(p),
        {
            "Sid": "DeadLetter",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": GetAtt(ids.dead_letter_queue, "Arn"),
        },
        *queue_key_statements(p, "DeadLetterKey", ["kms:GenerateDataKey", "kms:Decrypt"]),
        {"Sid": "LogDelivery", "Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": "*"},
    ]
    if p.props.Tracing:
        statements.append(
            {"Sid": "Tracing", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"}
        )
    states = trust(
        "states.amazonaws.com",
        {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
    )
    return role(ids.state_machine_role, states, "run-task-sync", statements, p.props.Tags)


def state_machine(p: Processor, net: NetworkRefs) -> stepfunctions.StateMachine:
    ids = ProcessorIds(p.logical_id)
    return stepfunctions.StateMachine(
        ids.state_machine,
        StateMachineType="STANDARD",  # .sync needs a Standard workflow
        RoleArn=GetAtt(ids.state_machine_role, "Arn"),
        DefinitionString=definition_string(p),
        DefinitionSubstitutions={
            # Whole-ARN substitutions keep the definition partition-neutral.
            "RunTaskSync": Sub("arn:${AWS::Partition}:states:::ecs:runTask.sync"),
            "SendMessage": Sub("arn:${AWS::Partition}:states:::sqs:sendMessage"),
            "Cluster": GetAtt(CLUSTER, "Arn"),
            "TaskDefinition": Ref(ids.task_definition),
            "Subnets": Join(",", net.subnets),
            "SecurityGroups": Join(",", security_groups(p, net)),
            "DeadLetterQueueUrl": Ref(ids.dead_letter_queue),
        },
        LoggingConfiguration=stepfunctions.LoggingConfiguration(
            Destinations=[
                stepfunctions.LogDestination(
                    CloudWatchLogsLogGroup=stepfunctions.CloudWatchLogsLogGroup(
                        LogGroupArn=GetAtt(ids.state_machine_log_group, "Arn")
                    )
                )
            ],
            # Failures with their input (the S3 event), not every transition.
            Level="ERROR",
            IncludeExecutionData=True,
        ),
        # X-Ray bills each trace recorded beyond its free tier (README, "Tracing"); off,
        # Control Tower's tracing control is suppressed with that reason.
        TracingConfiguration=stepfunctions.TracingConfiguration(Enabled=p.props.Tracing),
        **tagged(p.props.Tags),
        **metadata_keyword({} if p.props.Tracing else suppressions(TRACING_RULE)),
    )


class Orchestrated(DeliveryMode):
    name: ClassVar[str] = "Orchestrated"
    own_resources: ClassVar[int] = 3  # the log group, the role, the state machine

    def target(self, p: Processor, net: NetworkRefs) -> events.Target:
        """The whole event is the execution's input; the state machine builds the task's
        overrides with JSONPath (workflow.py)."""
        ids = ProcessorIds(p.logical_id)
        return events.Target(
            Id="orchestrator",
            Arn=Ref(ids.state_machine),
            RoleArn=GetAtt(ids.events_role, "Arn"),
        )

    def rule_permissions(self, p: Processor) -> InlinePolicy:
        """The state machine runs the task; the rule only starts it."""
        start = {
            "Sid": "StartStateMachine",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": Ref(ProcessorIds(p.logical_id).state_machine),
        }
        return InlinePolicy("start-execution", [start])

    def resources(self, p: Processor, net: NetworkRefs) -> list[AWSObject]:
        return [log_group(p), state_machine_role(p), state_machine(p, net)]

    def dead_letter_senders(self, ids: ProcessorIds) -> list[str]:
        # The state machine sends what it gives up on with its role, not as a rule.
        return [ids.rule]

    def attributes(self, ids: ProcessorIds) -> dict[str, Target]:
        return {"StateMachineArn": Target(ids.state_machine)}
