"""``redrive`` of a ``Delivery: Queued`` processor, against the moto server: its dead-letter
queue holds the events SQS moved there after MaxReceiveCount receives and the events the
rule could not deliver to the queue (EventBridge's dead letters, with its error
attributes). Both go back to ``<P>Queue`` as the same body and leave the dead-letter
queue; anything else stays there, reported, and nothing is lost when SendMessage is
refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from private_s3_processor_cli.redrive import Deployed, locate, redrive
from private_s3_processor_cli.templates import expand_document

from tests.conftest import cli, load_event
from tests.golden import cases

P = "Uploads"
MAX_RECEIVES = 2
KEYS = [
    'say "hi".csv',
    "back\\slash\\t.csv",
    "ctrl\x01\x1f\x7f.csv",
    "line\nbreak\ttab.csv",
    "unicode/é 日本 🙂.csv",
]
ERROR_ATTRIBUTES = {  # what EventBridge adds to a message it dead-letters
    "ERROR_CODE": "SQS_SEND_FAILED",
    "ERROR_MESSAGE": "The queue does not exist",
    "RULE_ARN": "arn:aws:events:eu-west-1:123456789012:rule/r",
    "TARGET_ARN": "arn:aws:sqs:eu-west-1:123456789012:q",
}


def _client(endpoint: str, service: str) -> Any:
    make: Any = boto3.client  # one call for every service
    return make(
        service,
        endpoint_url=endpoint,
        region_name=cases.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def stack(emulator: str) -> str:
    """A Queued processor's stack as the macro expands it (moto creates the bucket, rule
    and queues redrive reads; the scaling resources are no part of redrive)."""
    props = {
        "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0",
        "Delivery": "Queued",
        "MaxReceiveCount": MAX_RECEIVES,
    }
    template = expand_document(
        {"Resources": {P: {"Type": "PrivateS3Processor", "Properties": props}}},
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )
    cfn = _client(emulator, "cloudformation")
    cfn.create_stack(StackName="queued", TemplateBody=json.dumps(template))
    return "queued"


@pytest.fixture
def aws(emulator: str) -> dict[str, Any]:
    return {
        name: _client(emulator, name)
        for name in ("cloudformation", "sqs", "events", "ecs", "stepfunctions", "s3")
    }


@pytest.fixture
def deployed(aws: dict[str, Any], stack: str) -> Iterator[Deployed]:
    found = locate(aws, stack, P)
    yield found
    for queue in (found.queue, found.dead_letter_queue):
        drain(aws["sqs"], queue)  # PurgeQueue is allowed once a minute per queue


def event(bucket: str, key: str) -> str:
    body = load_event("s3-object-created.json")
    body["detail"]["bucket"]["name"] = bucket
    body["detail"]["object"]["key"] = key
    return json.dumps(body, ensure_ascii=False)


def moved_by_sqs(sqs: Any, deployed: Deployed, body: str) -> None:
    """Sent to the processing queue and received MaxReceiveCount times without a delete:
    SQS's redrive policy moves it to the dead-letter queue on the next receive."""
    assert deployed.queue
    sqs.send_message(QueueUrl=deployed.queue, MessageBody=body)
    for _ in range(MAX_RECEIVES + 1):
        sqs.receive_message(QueueUrl=deployed.queue, VisibilityTimeout=0, WaitTimeSeconds=0)


def dead_lettered_by_eventbridge(sqs: Any, deployed: Deployed, body: str) -> None:
    sqs.send_message(
        QueueUrl=deployed.dead_letter_queue,
        MessageBody=body,
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in ERROR_ATTRIBUTES.items()
        },
    )


def drain(sqs: Any, queue: str | None) -> None:
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages"):
        for m in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def bodies(sqs: Any, queue: str | None) -> list[str]:
    """The body of every message of the queue; each is made visible again at once."""
    seen: dict[str, tuple[str, str]] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        seen.update({m["MessageId"]: (m["Body"], m["ReceiptHandle"]) for m in batch})
    for _, handle in seen.values():
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(body for body, _ in seen.values())


def test_both_kinds_go_back_to_the_queue_as_the_same_body(
    aws: dict[str, Any], deployed: Deployed
) -> None:
    sqs = aws["sqs"]
    assert deployed.queue and deployed.delivery == "Queued"
    sent = []
    for i, key in enumerate(KEYS):
        body = event(deployed.bucket, key)
        sent.append(body)
        (moved_by_sqs if i % 2 else dead_lettered_by_eventbridge)(sqs, deployed, body)
    assert bodies(sqs, deployed.dead_letter_queue) == sorted(sent)
    assert bodies(sqs, deployed.queue) == []

    report = redrive(aws, deployed, wait_s=0)

    assert (report.resubmitted, report.kept) == (len(KEYS), 0)
    assert bodies(sqs, deployed.queue) == sorted(sent)  # byte for byte
    assert bodies(sqs, deployed.dead_letter_queue) == []
    for line in report.lines:
        assert line["action"] == "re-submitted" and line["started"].startswith("message ")
    # No error attributes travel with the re-sent message: the worker reads the body.
    (first, *_) = sqs.receive_message(
        QueueUrl=deployed.queue, MaxNumberOfMessages=1, MessageAttributeNames=["All"]
    )["Messages"]
    assert "MessageAttributes" not in first


def test_what_is_not_an_upload_of_this_bucket_is_kept_and_reported(
    aws: dict[str, Any], deployed: Deployed
) -> None:
    sqs = aws["sqs"]
    good = event(deployed.bucket, r'kept "apart"\.csv')
    junk = [
        "not json",
        json.dumps({"detail-type": "Object Deleted", "detail": {}}),
        event("someone-elses-bucket", "a.csv"),
    ]
    for body in [good, *junk]:
        dead_lettered_by_eventbridge(sqs, deployed, body)

    report = redrive(aws, deployed, wait_s=0)

    assert (report.resubmitted, report.kept) == (1, 3)
    assert bodies(sqs, deployed.dead_letter_queue) == sorted(junk)  # visible again, as sent
    assert bodies(sqs, deployed.queue) == [good]
    reasons = " ".join(line.get("reason", "") for line in report.lines)
    assert "not a record of an upload" in reasons and "someone-elses-bucket" in reasons


class _Refusing:
    """The SQS client of an operator without sqs:SendMessage on the processing queue."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message(self, **_: Any) -> Any:
        error: Any = {"Error": {"Code": "AccessDenied", "Message": "not authorized: SendMessage"}}
        raise ClientError(error, "SendMessage")


def test_a_refused_send_loses_nothing(aws: dict[str, Any], deployed: Deployed) -> None:
    sqs = aws["sqs"]
    body = event(deployed.bucket, "unicode/日本\u0041.csv")
    moved_by_sqs(sqs, deployed, body)

    report = redrive({**aws, "sqs": _Refusing(sqs)}, deployed, wait_s=0)

    assert (report.resubmitted, report.kept) == (0, 1)
    assert "re-submission failed" in report.lines[0]["reason"]
    assert bodies(sqs, deployed.dead_letter_queue) == [body]  # still there, visible
    assert bodies(sqs, deployed.queue) == []
    # Once SendMessage is allowed, the next run moves it.
    assert redrive(aws, deployed, wait_s=0).resubmitted == 1
    assert bodies(sqs, deployed.queue) == [body]


def test_the_command_line_reports_queued_and_exits_1_on_a_kept_message(
    emulator: str, aws: dict[str, Any], deployed: Deployed
) -> None:
    sqs = aws["sqs"]
    good = event(deployed.bucket, "a.csv")
    dead_lettered_by_eventbridge(sqs, deployed, good)
    dead_lettered_by_eventbridge(sqs, deployed, "junk")
    run = cli(
        "redrive", "--stack", "queued", "--processor", P, "--endpoint-url", emulator, timeout=120
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[-1] == f"{P} (Queued): re-submitted 1, kept 1"
    assert bodies(sqs, deployed.queue) == [good]
    assert bodies(sqs, deployed.dead_letter_queue) == ["junk"]
