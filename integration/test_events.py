"""An upload on the engine: S3 -> EventBridge -> the deployed rule. In Queued mode the
rule's own target, the processor's queue, must receive the whole event for every key the
filter admits (awkward keys included) and nothing else. In Direct mode the target is ECS,
which the community engine cannot start: the events S3 really emitted are caught by a
rule of the test's own, and the stored pattern is asked about each (TestEventPattern)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from integration import stacks
from integration.cases import Case
from integration.engine import Engine
from integration.stacks import Outcome

# SPEC §4: keys may hold spaces, +, %, =, unicode, parentheses, quotes; the event carries
# the raw key.
AWKWARD = [
    "a b+c%20(1)=.csv",
    "ünï cödé ☃.csv",
    'quote\'s "double".csv',
    "back\\slash\\t.csv",
    "x.CSV",
]
RECEIVE_WITHIN = 30.0
SETTLE = 3.0


def raw_key(event: dict[str, Any], uploaded: list[str]) -> str:
    """The key as AWS delivers it to EventBridge (raw: SPEC §4; S3 User Guide, "EventBridge
    event message structure"). The engine URL-encodes it, as S3 does for its own
    notifications to SQS, SNS and Lambda: the event's key must be one uploaded key, raw or
    in exactly that encoding, and the raw key is put back (DESIGN.md, "The second engine")."""
    sent = str(event["detail"]["object"]["key"])
    found = [k for k in uploaded if sent in (k, quote(k, safe="/"))]
    assert len(found) == 1, f"the engine sent {sent!r}, which is no uploaded key raw or encoded"
    event["detail"]["object"]["key"] = found[0]
    return found[0]


def empty(engine: Engine, bucket: str) -> None:
    """Every version and delete marker gone: CloudFormation deletes only an empty bucket."""
    s3 = engine.client("s3")
    listed = s3.list_object_versions(Bucket=bucket)
    for item in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def _resource(engine: Engine, stack: str, logical: str) -> str:
    found = [
        r["PhysicalResourceId"]
        for r in stacks.resources(engine, stack)
        if r["LogicalResourceId"] == logical
    ]
    assert len(found) == 1, (stack, logical, found)
    return str(found[0])


def _drain(engine: Engine, url: str, expected: int) -> list[dict[str, Any]]:
    """Messages until ``expected`` arrived, then for SETTLE seconds more: an event that
    should not have come has time to show."""
    sqs = engine.client("sqs")
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + RECEIVE_WITHIN
    settled: float | None = None
    while time.monotonic() < deadline and (settled is None or time.monotonic() < settled):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if settled is None and len(bodies) >= expected:
            settled = time.monotonic() + SETTLE
    return bodies


def test_queued_upload_reaches_the_queue_as_the_whole_event(
    engine: Engine, deployed: dict[str, tuple[Case, Outcome]]
) -> None:
    case, outcome = deployed["queued_defaults"]
    assert outcome.status == "CREATE_COMPLETE"
    bucket = _resource(engine, case.stack, "InvoicesBucket")
    queue = _resource(engine, case.stack, "InvoicesQueue")
    admitted = [f"inbound/{k}" for k in AWKWARD]
    refused = ["outbound/a.csv", "inbound", "Inbound/a.csv"]
    s3 = engine.client("s3")
    try:
        # The refused keys first: an event wrongly let through arrives before the last
        # admitted one, so the drain cannot stop before it.
        for key in refused + admitted:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        events = _drain(engine, queue, len(admitted))
    finally:
        empty(engine, bucket)
    assert sorted(raw_key(e, admitted + refused) for e in events) == sorted(admitted)
    for event in events:
        # The whole event, as EventBridge delivers it (no input transformer in Queued mode).
        assert {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        } <= set(event)
        assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
        assert event["detail"]["bucket"]["name"] == bucket


def test_direct_rules_stored_pattern_matches_what_s3_emitted(
    engine: Engine, deployed: dict[str, tuple[Case, Outcome]]
) -> None:
    case, outcome = deployed["example"]
    assert outcome.status == "CREATE_COMPLETE"
    bucket = _resource(engine, case.stack, "InvoicesBucket")
    rule = _resource(engine, case.stack, "InvoicesRule").rsplit("/", 1)[-1]
    events_api = engine.client("events")
    stored = events_api.describe_rule(Name=rule)["EventPattern"]
    targets = events_api.list_targets_by_rule(Rule=rule)["Targets"]
    assert [t["Arn"].split(":")[2] for t in targets] == ["ecs"], targets
    assert targets[0]["EcsParameters"]["LaunchType"] == "FARGATE"
    # A rule of the test's own catches every event of the bucket.
    sqs = engine.client("sqs")
    catcher = sqs.create_queue(QueueName="integration-catch-all")["QueueUrl"]
    catcher_arn = sqs.get_queue_attributes(QueueUrl=catcher, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events_api.put_rule(
        Name="integration-catch-all",
        EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}),
    )
    events_api.put_targets(
        Rule="integration-catch-all", Targets=[{"Id": "catch", "Arn": catcher_arn}]
    )
    try:
        admitted = [f"inbound/{k}" for k in AWKWARD if k.endswith(".csv")]
        refused = ["inbound/x.CSV", "inbound/a.csv.tmp", "outbound/a.csv", "inbound.csv"]
        s3 = engine.client("s3")
        for key in admitted + refused:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        caught = _drain(engine, catcher, len(admitted + refused))
        assert sorted(raw_key(e, admitted + refused) for e in caught) == sorted(admitted + refused)
        verdicts = {
            e["detail"]["object"]["key"]: events_api.test_event_pattern(
                EventPattern=stored, Event=json.dumps(e)
            )["Result"]
            for e in caught
        }
        assert verdicts == {k: k in admitted for k in admitted + refused}
    finally:
        empty(engine, bucket)
        events_api.remove_targets(Rule="integration-catch-all", Ids=["catch"])
        events_api.delete_rule(Name="integration-catch-all")
        sqs.delete_queue(QueueUrl=catcher)
