"""The dead-letter queue survives the stack (issue 12): the processor's DeletionPolicy and
UpdateReplacePolicy reach every resource that holds a record of its uploads, and with
``AlarmTopicArn`` an alarm fires well before a dead letter can expire unread."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from private_s3_processor import ExpansionError
from private_s3_processor.rules import (
    DEAD_LETTER_AGE_ALARM_S,
    DEAD_LETTER_RETENTION_S,
    DELIVERY_MODES,
    MAX_RESOURCES,
)
from private_s3_processor_cli.main import main
from private_s3_processor_cli.templates import expand_document

from bench.transform import processors_template, size
from tests.conftest import load_event
from tests.golden import cases

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
POLICIES = ("DeletionPolicy", "UpdateReplacePolicy")
DAY_S = 86400


def expanded(resource: dict[str, Any], name: str = "P") -> dict[str, Any]:
    template = {"Resources": {name: {"Type": "PrivateS3Processor", **resource}}}
    out: dict[str, Any] = expand_document(
        template, region=cases.REGION, account_id=cases.ACCOUNT, prefix_list_id=cases.PREFIX_LIST
    )
    return out


def policies(resource: dict[str, Any]) -> dict[str, str]:
    return {k: resource[k] for k in POLICIES if k in resource}


def records(p: str, delivery: str) -> set[str]:
    """The resources that hold a record of ``p``'s uploads: the objects, the uploads not
    processed, and what happened to each (the task's logs; the state machine's)."""
    found = {f"{p}Bucket", f"{p}DeadLetterQueue", f"{p}LogGroup"}
    # Queued: the uploads not yet processed wait in the processor's queue.
    mode = {"Orchestrated": {f"{p}StateMachineLogGroup"}, "Queued": {f"{p}Queue"}}
    return found | mode.get(delivery, set())


# --- DeletionPolicy / UpdateReplacePolicy --------------------------------------------------


@pytest.mark.parametrize("delivery", DELIVERY_MODES)
@pytest.mark.parametrize(
    ("deletion", "replace"),
    [
        ("Retain", "Retain"),
        ("RetainExceptOnCreate", "Retain"),
        ("Delete", "Delete"),
        ("Retain", None),
        (None, "Retain"),
        (None, None),
    ],
)
def test_policies_go_on_every_record_and_nowhere_else(
    delivery: str, deletion: str | None, replace: str | None
) -> None:
    """As written, on the bucket, the queue and the log groups; never on the queue policy
    (deleted with the stack, it lets nothing new arrive), rules, roles or alarms; and on
    nothing at all when the user wrote none."""
    written = {k: v for k, v in zip(POLICIES, (deletion, replace), strict=True) if v}
    props = {"Image": IMAGE, "Delivery": delivery, "AlarmTopicArn": TOPIC}
    out = expanded({**written, "Properties": props})
    keep = records("P", delivery)
    assert keep <= set(out["Resources"])
    for name, resource in out["Resources"].items():
        assert policies(resource) == (written if name in keep else {}), name


def test_golden_cases_keep_the_records_of_the_processors_that_ask() -> None:
    res = cases.run("retained_records")["Resources"]
    kept = {name: policies(r) for name, r in res.items() if policies(r)}
    want = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}
    assert kept == {name: want for name in records("Archive", "Orchestrated")}
    # The direct golden case: Intake wrote Retain for both, Open wrote nothing.
    res = cases.run("bucket_policy_options")["Resources"]
    kept = {name: policies(r) for name, r in res.items() if policies(r)}
    want = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    assert kept == {name: want for name in records("Intake", "Direct")}


# --- the alarm on the oldest dead letter ---------------------------------------------------


def alarms(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarms that notify someone: not those that act on a scaling policy (Queued's)."""
    res = out["Resources"]

    def scales(action: Any) -> bool:
        target = res.get(action.get("Ref", "")) if isinstance(action, dict) else None
        return bool(target) and target["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"

    return {
        name: r["Properties"]
        for name, r in res.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and not all(scales(a) for a in r["Properties"]["AlarmActions"])
    }


@pytest.mark.parametrize("delivery", DELIVERY_MODES)
def test_the_age_alarm_comes_with_the_topic_only(delivery: str) -> None:
    without = expanded({"Properties": {"Image": IMAGE, "Delivery": delivery}})
    assert alarms(without) == {}
    props = {"Image": IMAGE, "Delivery": delivery, "AlarmTopicArn": TOPIC}
    # A Queued processor also has a work queue, whose messages may wait unreceived.
    work_queue = {"PQueueAgeAlarm"} if delivery == "Queued" else set()
    assert set(alarms(expanded({"Properties": props}))) == {
        "PDeadLetterAlarm",
        "PDeadLetterAgeAlarm",
        *work_queue,
    }


def test_the_work_queue_alarm_fires_days_before_sqs_deletes_a_message() -> None:
    """A message no worker ever receives (the image cannot be pulled) is never
    dead-lettered: only the work queue's own age can tell."""
    out = expanded({"Properties": {"Image": IMAGE, "Delivery": "Queued", "AlarmTopicArn": TOPIC}})
    queue = out["Resources"]["PQueue"]["Properties"]
    age = alarms(out)["PQueueAgeAlarm"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PQueue", "QueueName"]}}
    ]
    latest = age["Threshold"] + age["Period"] * age["EvaluationPeriods"]
    assert queue["MessageRetentionPeriod"] - latest >= 2 * DAY_S
    assert age["AlarmActions"] == age["OKActions"] == [TOPIC]


def test_the_age_alarm_fires_well_before_a_dead_letter_expires() -> None:
    out = expanded({"Properties": {"Image": IMAGE, "AlarmTopicArn": TOPIC}})
    queue = out["Resources"]["PDeadLetterQueue"]["Properties"]
    # The SQS maximum, 1,209,600 s (SetQueueAttributes, MessageRetentionPeriod).
    assert queue["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION_S == 1_209_600
    age = alarms(out)["PDeadLetterAgeAlarm"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PDeadLetterQueue", "QueueName"]}}
    ]
    assert age["ComparisonOperator"] == "GreaterThanThreshold"
    assert age["Threshold"] == DEAD_LETTER_AGE_ALARM_S < queue["MessageRetentionPeriod"]
    # Notified at the latest one evaluation after the threshold: six days and more left.
    latest = age["Threshold"] + age["Period"] * age["EvaluationPeriods"]
    assert queue["MessageRetentionPeriod"] - latest >= 6 * DAY_S
    assert age["AlarmActions"] == [TOPIC]
    # An OK would not tell a redriven queue from a message SQS deleted unread.
    assert "OKActions" not in age
    assert "7 days" in age["AlarmDescription"] and "14 days" in age["AlarmDescription"]


@pytest.mark.parametrize(
    ("delivery", "shared", "per", "most"),
    [("Direct", 16, 14, 34), ("Orchestrated", 16, 16, 30), ("Queued", 17, 21, 23)],
)
def test_processors_with_alarms_that_fit_in_one_stack(
    delivery: str, shared: int, per: int, most: int
) -> None:
    """README "Cost and scale": two resources more per processor with AlarmTopicArn (three
    with a work queue); Queued also shares the sqs endpoint."""
    extra = {"Delivery": delivery, "AlarmTopicArn": TOPIC}
    one, _ = size(processors_template(1, **extra))
    two, _ = size(processors_template(2, **extra))
    assert (one, two - one) == (shared + per, per)
    assert size(processors_template(most, **extra))[0] == shared + per * most <= MAX_RESOURCES
    with pytest.raises(ExpansionError, match=f"{shared + per * (most + 1)} resources"):
        size(processors_template(most + 1, **extra))


# --- what deleting the stack leaves (README "Failures are kept") ----------------------------


def stand_in_stack(retain: bool) -> dict[str, Any]:
    """The golden processor Intake's bucket and dead-letter queue as the transform writes
    them, and a rule standing in for the rest of the processor (redrive finds a processor
    by its queue and rule). With ``retain`` as the user wrote it (Retain); without, none."""
    res = cases.run("bucket_policy_options")["Resources"]
    kept = {name: res[name] for name in ("IntakeBucket", "IntakeDeadLetterQueue")}
    if not retain:
        kept = {n: {k: v for k, v in r.items() if k not in POLICIES} for n, r in kept.items()}
    rule = {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {"source": ["aws.s3"]}}}
    return {"Resources": {**kept, "IntakeRule": rule}}


def redrive(capsys: pytest.CaptureFixture[str], stack: str, *extra: str) -> int:
    code = main(
        ["redrive", "--stack", stack, "--processor", "Intake", "--region", cases.REGION, *extra]
    )
    capsys.readouterr()
    return code


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")


@pytest.mark.parametrize("retain", [True, False])
def test_deleting_the_stack_keeps_the_queue_only_when_retained(
    retain: bool, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    """Retain: the queue and its dead letter outlive the stack, and redrive finds them by
    the stack's ID (DescribeStackResources answers for a deleted stack, by its ID only, for
    90 days) and lists them. Without it, CloudFormation deletes the queue, and the dead
    letter with it. (Re-submitting is not tried here: moto re-creates a deleted stack's
    resources when asked to describe them, where AWS says the rule is gone.)"""
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=cases.REGION)
        sqs = boto3.client("sqs", region_name=cases.REGION)
        stack = cfn.create_stack(StackName="app", TemplateBody=json.dumps(stand_in_stack(retain)))[
            "StackId"
        ]
        (queue,) = [
            r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName="app")["StackResources"]
            if r["LogicalResourceId"] == "IntakeDeadLetterQueue"
        ]
        event = load_event("s3-object-created.json")
        event["detail"]["bucket"]["name"] = "intake-123456789012-eu-west-1"
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        cfn.delete_stack(StackName="app")

        assert (queue in sqs.list_queues().get("QueueUrls", [])) is retain
        assert redrive(capsys, "app", "--dry-run") == 1  # by name: no such stack any more
        if retain:
            assert redrive(capsys, stack, "--dry-run") == 0  # by ID: found and listed
            counts = sqs.get_queue_attributes(
                QueueUrl=queue,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            assert sum(int(n) for n in counts.values()) == 1
