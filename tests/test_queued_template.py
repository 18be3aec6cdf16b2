"""``Delivery: Queued`` (issue 14): the expanded template has the shape the other parts of
the project code against (the worker's environment, the local flow's scaling, the
benchmark's ``Scaler``), read from expansions and from the golden outputs."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_processor import ExpansionError
from private_s3_processor.delivery import MODES
from private_s3_processor.delivery.autoscaling import scale_out_steps
from private_s3_processor.rules import (
    DEAD_LETTER_RETENTION_S,
    FARGATE_MAX_STOP_TIMEOUT_S,
    MAX_STEP_ADJUSTMENTS,
    MAX_TASKS_RANGE,
    QUEUED_DEFAULTS,
)
from private_s3_processor_cli.scaling_math import compile_expression
from private_s3_processor_cli.templates import expand_document

from tests.golden import cases

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"


def expanded(
    props: dict[str, Any], parameters: dict[str, Any] | None = None, **template: Any
) -> dict[str, Any]:
    body = {
        **template,
        "Resources": {
            "P": {"Type": "PrivateS3Processor", "Properties": {"Image": IMAGE, **props}},
            **template.get("Resources", {}),
        },
    }
    out: dict[str, Any] = expand_document(
        body,
        parameters,
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )
    return out


def queued(**props: Any) -> dict[str, Any]:
    resources: dict[str, Any] = expanded({"Prefix": "in/", "Delivery": "Queued", **props})[
        "Resources"
    ]
    return resources


# --- The step scaling policy --------------------------------------------------------------


def desired(steps: list[dict[str, Any]], value: float) -> int | None:
    """The step Application Auto Scaling applies for an alarm value above a threshold of 0:
    lower bounds inclusive, upper bounds exclusive (API reference, StepAdjustment)."""
    chosen = [
        s["ScalingAdjustment"]
        for s in steps
        if s.get("MetricIntervalLowerBound", -math.inf) <= value
        and value < s.get("MetricIntervalUpperBound", math.inf)
    ]
    assert len(chosen) <= 1, (value, chosen)
    return chosen[0] if chosen else None


def as_adjustments(max_tasks: int) -> list[dict[str, Any]]:
    out = []
    for lower, upper, tasks in scale_out_steps(max_tasks):
        step: dict[str, Any] = {"MetricIntervalLowerBound": lower, "ScalingAdjustment": tasks}
        if upper is not None:
            step["MetricIntervalUpperBound"] = upper
        out.append(step)
    return out


@settings(max_examples=200, deadline=None)
@given(
    max_tasks=st.integers(*MAX_TASKS_RANGE),
    backlog=st.floats(min_value=0, max_value=5000, allow_nan=False),
)
def test_steps_give_the_next_power_of_two_at_most_max_tasks(max_tasks: int, backlog: float) -> None:
    """Every backlog gets exactly one step: the smallest power of two above it (enough
    tasks, never more than twice what it needs), capped at MaxTasks."""
    got = desired(as_adjustments(max_tasks), backlog)
    power = 1
    while power <= backlog:
        power *= 2
    assert got == min(power, max_tasks)


@pytest.mark.parametrize("max_tasks", [1, 2, 3, 8, 10, 100, 512, 513, 1000])
def test_steps_are_contiguous_powers_of_two_then_max_tasks(max_tasks: int) -> None:
    res = queued(MaxTasks=max_tasks)
    config = res["PScaleOutPolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    steps = config["StepAdjustments"]
    assert steps == as_adjustments(max_tasks)
    assert len(steps) <= MAX_STEP_ADJUSTMENTS
    assert steps[0]["MetricIntervalLowerBound"] == 0
    assert "MetricIntervalUpperBound" not in steps[-1]
    for before, after in itertools.pairwise(steps):
        assert before["MetricIntervalUpperBound"] == after["MetricIntervalLowerBound"]
    *powers, last = [s["ScalingAdjustment"] for s in steps]
    assert powers == [2**n for n in range(len(powers))]
    assert last == max_tasks and all(p < max_tasks for p in powers)
    assert (config["AdjustmentType"], config["MetricAggregationType"]) == (
        "ExactCapacity",
        "Maximum",
    )
    target = res["PScalableTarget"]["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, max_tasks)
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["ResourceId"] == {
        "Fn::Join": [
            "/",
            ["service", {"Ref": "PrivateS3Cluster"}, {"Fn::GetAtt": ["PService", "Name"]}],
        ]
    }


def test_the_largest_max_tasks_stays_within_the_step_quota() -> None:
    assert len(scale_out_steps(MAX_TASKS_RANGE[1])) == 11 <= MAX_STEP_ADJUSTMENTS


def test_scale_in_sets_zero() -> None:
    res = queued()
    config = res["PScaleInPolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ExactCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0}]
    assert res["PScaleInPolicy"]["Properties"]["ScalingTargetId"] == {"Ref": "PScalableTarget"}


# --- The alarms -----------------------------------------------------------------------------


def evaluate(expression: str, values: dict[str, float | None]) -> float:
    """CloudWatch metric math, with the evaluator the simulated account uses (FILL, IF,
    comparisons, arithmetic; scaling_math cites the page)."""
    result = compile_expression(expression, frozenset(values))(values)
    assert result is not None, expression
    return result


def metrics(alarm: dict[str, Any]) -> dict[str, tuple[str, str, str, Any]]:
    out = {}
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            assert stat["Period"] == 60 and query["ReturnData"] is False
            metric = stat["Metric"]
            (dimension,) = metric["Dimensions"]
            out[query["Id"]] = (
                metric["Namespace"],
                metric["MetricName"],
                stat["Stat"],
                (dimension["Name"], dimension["Value"]),
            )
    return out


INPUTS = {
    "visible": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        ("QueueName", {"Fn::GetAtt": ["PQueue", "QueueName"]}),
    ),
    "inflight": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesNotVisible",
        "Maximum",
        ("QueueName", {"Fn::GetAtt": ["PQueue", "QueueName"]}),
    ),
    "arrived": ("AWS/Events", "Invocations", "Sum", ("RuleName", {"Ref": "PRule"})),
}


@pytest.mark.parametrize("concurrency", [1, 4, 64])
def test_backlog_alarm_counts_tasks_worth_of_work(concurrency: int) -> None:
    res = queued(Concurrency=concurrency)
    alarm = res["PBacklogAlarm"]["Properties"]
    assert metrics(alarm) == INPUTS
    (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    assert returned["Id"] == "backlog"
    expression = returned["Expression"]
    # Each minute's work, in tasks' worth; a metric with no datapoint counts as 0 (an
    # inactive queue reports nothing while the rule's metric already counts the upload).
    # A queue that reports: its messages, waiting or in flight; the arrivals of the minute
    # are already among them and are not counted twice (a steady trickle would otherwise
    # hold several times the tasks it needs).
    assert evaluate(expression, {"visible": 9, "inflight": 3, "arrived": 4}) == pytest.approx(
        12 / concurrency
    )
    # A queue that reports nothing (asleep after hours idle): the rule's deliveries stand in.
    assert evaluate(expression, {"visible": None, "inflight": None, "arrived": 5}) == (
        pytest.approx(5 / concurrency)
    )
    assert evaluate(expression, {"visible": None, "inflight": None, "arrived": 1}) > 0
    assert evaluate(expression, {"visible": 0, "inflight": None, "arrived": None}) == 0
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "PScaleOutPolicy"}]
    assert "Period" not in alarm  # a metric math alarm has a period per metric


@pytest.mark.parametrize("idle_seconds", [60, 300, 3600])
def test_idle_alarm_waits_idle_seconds_of_nothing(idle_seconds: int) -> None:
    alarm = queued(IdleSeconds=idle_seconds)["PIdleAlarm"]["Properties"]
    assert metrics(alarm) == INPUTS
    (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    expression = returned["Expression"]
    assert evaluate(expression, {"visible": None, "inflight": None, "arrived": None}) == 0
    assert evaluate(expression, {"visible": 0, "inflight": 1, "arrived": None}) > 0
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanOrEqualToThreshold", 0)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == idle_seconds // 60
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "PScaleInPolicy"}]


# --- The queue, its policy, the rule ----------------------------------------------------------


def test_queue_redrives_to_the_dead_letter_queue_and_expires_first() -> None:
    res = queued(MaxReceiveCount=7, VisibilityTimeoutSeconds=900)
    queue = res["PQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["PDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 7,
    }
    assert queue["VisibilityTimeout"] == 900
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["SqsManagedSseEnabled"] is True
    # A message keeps its original enqueue time in a standard dead-letter queue: the
    # dead-letter queue must keep it longer than the queue did.
    dead = res["PDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert queue["MessageRetentionPeriod"] < dead == DEAD_LETTER_RETENTION_S


def test_defaults_are_the_contracts() -> None:
    res = queued()
    assert res["PQueue"]["Properties"]["VisibilityTimeout"] == 300
    assert res["PQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert res["PScalableTarget"]["Properties"]["MaxCapacity"] == 10
    assert res["PIdleAlarm"]["Properties"]["EvaluationPeriods"] == 5
    assert QUEUED_DEFAULTS == {
        "MaxTasks": 10,
        "Concurrency": 4,
        "IdleSeconds": 300,
        "MaxReceiveCount": 5,
        "VisibilityTimeoutSeconds": 300,
    }


def test_only_the_rule_may_send_and_only_over_tls() -> None:
    policy = queued()["PQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "PQueue"}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow == {
        "Sid": "OnlyTheseRules",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["PQueue", "Arn"]},
        "Condition": {"ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": ["PRule", "Arn"]}]}},
    }
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_the_rule_targets_the_queue_without_a_role_and_nothing_else_runs_tasks() -> None:
    res = queued()
    (target,) = res["PRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["PQueue", "Arn"]}
    assert "RoleArn" not in target and "EcsParameters" not in target
    assert "PEventsRole" not in res and "PFailureRule" not in res
    # The dead-letter queue admits the rule (what EventBridge could not deliver); the
    # redrive policy needs no permission.
    allow = res["PDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == [{"Fn::GetAtt": ["PRule", "Arn"]}]


# --- The task role and the container ----------------------------------------------------------


def test_task_role_consumes_its_own_queue_and_protects_only_its_own_tasks() -> None:
    res = queued()
    statements = res["PTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ConsumeOwnQueue"] == {
        "Sid": "ConsumeOwnQueue",
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
        "Resource": {"Fn::GetAtt": ["PQueue", "Arn"]},
    }
    protect = by_sid["TaskScaleInProtection"]
    assert protect["Action"] == ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
    assert protect["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/"
        "${PrivateS3Cluster}/*"
    }
    # Only this processor's tasks: the owner tag the task definition propagates to them.
    assert protect["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["PrivateS3Cluster", "Arn"]}},
        "StringEquals": {
            "aws:ResourceTag/private-s3-processor:processor": {"Fn::Sub": "${AWS::StackName}-P"}
        },
    }
    # No other sqs or ecs action anywhere in the role.
    actions = [a for s in statements for a in s["Action"]]
    assert [a for a in actions if a.startswith(("sqs:", "ecs:"))] == [
        *by_sid["ConsumeOwnQueue"]["Action"],
        *protect["Action"],
    ]


@pytest.mark.parametrize("delivery", ["Direct", "Orchestrated"])
def test_other_modes_get_no_queue_permissions_or_settings(delivery: str) -> None:
    res = expanded({"Prefix": "in/", "Delivery": delivery})["Resources"]
    statements = res["PTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert not [s for s in statements if str(s["Action"]).count("sqs:") or "ecs:" in str(s)]
    container = res["PTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert "StopTimeout" not in container
    assert not [e for e in container.get("Environment", []) if e["Name"].startswith("QUEUE_")]


def environment(res: dict[str, Any]) -> dict[str, Any]:
    container = res["PTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def test_container_gets_the_queue_and_fargates_longest_stop_timeout() -> None:
    res = queued(Concurrency=16, VisibilityTimeoutSeconds=600, OutputPrefix="out/")
    container = res["PTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["StopTimeout"] == FARGATE_MAX_STOP_TIMEOUT_S == 120
    assert environment(res) == {
        "OUTPUT_PREFIX": "out/",
        "QUEUE_URL": {"Ref": "PQueue"},
        "QUEUE_CONCURRENCY": "16",
        "QUEUE_VISIBILITY_TIMEOUT": "600",
        "QUEUE_STOP_TIMEOUT": "120",
    }
    assert "EntryPoint" not in container and "Command" not in container


def test_test_mode_runs_the_worker_with_the_echo_processor() -> None:
    res = queued(Mode="Test", Environment={"PROCESSOR": "mine:run", "TEST_SLEEP_SECONDS": "5"})
    container = res["PTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert "EntryPoint" not in container and "Command" not in container
    env = environment(res)
    assert env["PROCESSOR"] == "private_s3_worker.testing:echo"
    assert env["TEST_SLEEP_SECONDS"] == "5"
    assert "QUEUE_URL" in env
    names = [e["Name"] for e in container["Environment"]]
    assert len(names) == len(set(names))  # the user's PROCESSOR gave way, not duplicated


# --- The service -----------------------------------------------------------------------------


def test_service_starts_with_no_task_in_the_private_subnets() -> None:
    service = queued()["PService"]["Properties"]
    assert service["DesiredCount"] == 0
    assert service["LaunchType"] == "FARGATE"
    assert service["Cluster"] == {"Ref": "PrivateS3Cluster"}
    assert service["TaskDefinition"] == {"Ref": "PTaskDefinition"}
    vpc = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["AssignPublicIp"] == "DISABLED"
    assert vpc["Subnets"] == [{"Ref": "PrivateS3Subnet1"}, {"Ref": "PrivateS3Subnet2"}]
    assert vpc["SecurityGroups"] == [
        {"Fn::GetAtt": ["PTaskSecurityGroup", "GroupId"]},
        {"Fn::GetAtt": ["PrivateS3EndpointClientSecurityGroup", "GroupId"]},
    ]
    assert service["EnableECSManagedTags"] is True and "PropagateTags" in service
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}


def test_attributes_of_a_queued_processor() -> None:
    outputs = cases.expected("queued_defaults")["Outputs"]
    assert outputs == {
        "Queue": {"Value": {"Ref": "InvoicesQueue"}},
        "QueueArn": {"Value": {"Fn::GetAtt": ["InvoicesQueue", "Arn"]}},
        "Service": {"Value": {"Fn::GetAtt": ["InvoicesService", "Name"]}},
        "ServiceArn": {"Value": {"Fn::Sub": "${InvoicesService}"}},
    }


# --- The network -----------------------------------------------------------------------------


def _interface_services(template: dict[str, Any]) -> set[str]:
    return {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
        and r["Properties"]["VpcEndpointType"] == "Interface"
    }


@pytest.mark.parametrize("name", cases.success_names())
def test_the_sqs_endpoint_comes_with_a_queued_processor_only(name: str) -> None:
    """Every golden output: an sqs interface endpoint exactly when a processor is Queued
    (none of them uses an existing VPC without creating endpoints)."""
    out = cases.expected(name)
    has_queued = any(
        r["Type"] == "AWS::ECS::Service" and k.endswith("Service")
        for k, r in out["Resources"].items()
    )
    assert ("sqs" in _interface_services(out)) == has_queued


@pytest.mark.parametrize("endpoints", ["All", "Minimal"])
def test_queued_adds_sqs_and_ecs_to_any_endpoint_set(endpoints: str) -> None:
    out = expanded({"Delivery": "Queued", "Endpoints": endpoints})
    assert {"sqs", "ecs"} <= _interface_services(out)
    direct = expanded({"Endpoints": endpoints})
    assert "sqs" not in _interface_services(direct)


def test_existing_endpoints_without_sqs_are_a_warning() -> None:
    warnings: list[str] = []
    template = {
        "Resources": {
            "P": {
                "Type": "PrivateS3Processor",
                "Properties": {
                    "Image": IMAGE,
                    "Delivery": "Queued",
                    "Network": {
                        "VpcId": "vpc-1",
                        "SubnetIds": ["subnet-1"],
                        "CreateEndpoints": False,
                        "EndpointSecurityGroupId": "sg-1",
                    },
                },
            }
        }
    }
    expand_document(template, warnings=warnings)
    assert [w for w in warnings if "sqs, ecs" in w and "CreateEndpoints" in w]


# --- Validation ------------------------------------------------------------------------------


def test_a_parameter_value_arrives_as_a_string() -> None:
    """CloudFormation sends templateParameterValues as strings."""
    res = expanded(
        {"Delivery": "Queued", "MaxTasks": {"Ref": "Workers"}},
        {"Workers": "64"},
        Parameters={"Workers": {"Type": "Number"}},
    )["Resources"]
    assert res["PScalableTarget"]["Properties"]["MaxCapacity"] == 64


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"MaxTasks": 5}, "property 'MaxTasks' applies only with Delivery: Queued"),
        (
            {"Delivery": "Orchestrated", "Concurrency": 2},
            "this processor's Delivery is Orchestrated",
        ),
        ({"Delivery": "Queued", "IdleSeconds": 61}, "must be a multiple of 60"),
        ({"Delivery": "Queued", "MaxTasks": "ten"}, "property 'MaxTasks' must be an integer"),
        ({"Delivery": "Queued", "Concurrency": False}, "property 'Concurrency' must be an integer"),
        ({"Delivery": "Queued", "MaxTasks": {"Fn::GetAtt": ["X", "Y"]}}, "property 'MaxTasks'"),
        ({"Delivery": "Queued", "MaxReceiveCount": [5]}, "property 'MaxReceiveCount'"),
        ({"Delivery": "Queued", "VisibilityTimeoutSeconds": 12.5}, "VisibilityTimeoutSeconds"),
    ],
)
def test_bad_queued_values_are_one_line_errors(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        expanded(props)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_queued_resources_per_processor_is_honest() -> None:
    mode = MODES["Queued"]
    one = expanded({"Delivery": "Queued"})["Resources"]
    own = [k for k in one if k.startswith("P") and not k.startswith("PrivateS3")]
    assert len(own) == mode.resources_per_processor == 18
