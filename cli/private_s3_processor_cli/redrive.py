"""``private-s3-processor redrive``: re-submit the uploads a processor's dead-letter
queue holds.

The queue holds three kinds of message, all of them a record of one upload:

- EventBridge's dead-letter message (either mode): the S3 event itself, with the
  error in message attributes;
- the state machine's (Orchestrated): ``{"processor", "event", "error", "cause", ...}``;
- the failure rule's (Direct, a task that failed): ECS's "Task State Change" event,
  whose ``overrides`` hold the upload's ``S3_*`` environment.

Each upload is re-submitted the way its processor's rule would have delivered it:
``StartExecution`` of the state machine (Orchestrated) or ``RunTask`` with the rule
target's parameters (Direct; the overrides built as proper JSON, so a key EventBridge
could not carry goes through). A message is deleted only after its re-submission was
accepted; one that cannot be read or re-submitted stays in the queue and is reported.
The worker skips an upload it already processed (exit 10), so a message delivered
twice does no harm.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from .launches import camel
from .output import fail

REDRIVE = "private-s3-processor redrive"
ENVIRONMENT_FIELDS = (
    ("S3_BUCKET", ("bucket", "name")),
    ("S3_KEY", ("object", "key")),
    ("S3_SIZE", ("object", "size")),
    ("S3_ETAG", ("object", "etag")),
    ("S3_VERSION_ID", ("object", "version-id")),
)


class RedriveError(Exception):
    """A problem the user can fix (no such stack or processor); exit status 1."""


@dataclass(frozen=True)
class Deployed:
    """One processor of a stack, as redrive needs it."""

    processor: str
    rule: str
    dead_letter_queue: str
    state_machine: str | None

    @property
    def delivery(self) -> str:
        return "Orchestrated" if self.state_machine else "Direct"


@dataclass
class Report:
    resubmitted: int = 0
    kept: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)


def locate(aws: Mapping[str, Any], stack: str, processor: str) -> Deployed:
    try:
        resources = aws["cloudformation"].describe_stack_resources(StackName=stack)
    except ClientError as exc:
        raise RedriveError(f"stack {stack}: {exc.response['Error']['Message']}") from None
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in resources["StackResources"]
        if "LogicalResourceId" in r  # moto leaves it out of some resources
    }
    processors = sorted(
        name[: -len("DeadLetterQueue")]
        for name in physical
        if name.endswith("DeadLetterQueue") and f"{name[: -len('DeadLetterQueue')]}Rule" in physical
    )
    if processor not in processors:
        raise RedriveError(
            f"stack {stack} has no processor {processor!r}; its processors: "
            + (", ".join(processors) or "none")
        )
    return Deployed(
        processor=processor,
        rule=physical[f"{processor}Rule"].rsplit("/", 1)[-1],
        dead_letter_queue=physical[f"{processor}DeadLetterQueue"],
        state_machine=physical.get(f"{processor}StateMachine"),
    )


def recorded_event(body: str) -> dict[str, Any]:
    """The S3 "Object Created" event (or as much of it as the record keeps) of a message;
    ValueError saying why when the message is not a record of an upload."""
    try:
        message: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    if isinstance(message.get("event"), dict):  # the state machine's dead letter
        message = message["event"]
    if message.get("detail-type") == "Object Created":
        _check(message)
        return message
    if message.get("detail-type") == "ECS Task State Change":
        overrides = (message.get("detail") or {}).get("overrides") or {}
        env = {
            e.get("name"): e.get("value")
            for o in overrides.get("containerOverrides", [])
            if o.get("name") == "worker"
            for e in o.get("environment", [])
        }
        detail: dict[str, Any] = {"bucket": {}, "object": {}}
        for name, (part, key) in ENVIRONMENT_FIELDS:
            if env.get(name) is not None:
                value = env[name]
                detail[part][key] = int(value) if name == "S3_SIZE" and value.isdigit() else value
        event = {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}
        _check(event)
        return event
    raise ValueError("neither an S3 event, a state machine dead letter nor an ECS task event")


def _check(event: Mapping[str, Any]) -> None:
    detail = event.get("detail") or {}
    if not (detail.get("bucket") or {}).get("name") or not (detail.get("object") or {}).get("key"):
        raise ValueError("the record has no bucket name or object key")


def describe(event: Mapping[str, Any]) -> str:
    detail = event["detail"]
    etag = detail["object"].get("etag")
    return f"s3://{detail['bucket']['name']}/{detail['object']['key']}" + (
        f" (ETag {etag})" if etag else ""
    )


def overrides(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``worker`` container's overrides, as the rule's InputTransformer means them."""
    env = []
    for name, (part, key) in ENVIRONMENT_FIELDS:
        value = event["detail"][part].get(key)
        if value is not None:
            env.append({"name": name, "value": str(value)})
    return {"containerOverrides": [{"name": "worker", "environment": env}]}


def resubmit(aws: Mapping[str, Any], deployed: Deployed, event: dict[str, Any]) -> str:
    """Start processing ``event`` again; returns the execution or task ARN."""
    if deployed.state_machine:
        answer = aws["stepfunctions"].start_execution(
            stateMachineArn=deployed.state_machine, input=json.dumps(event)
        )
        return str(answer["executionArn"])
    target = aws["events"].list_targets_by_rule(Rule=deployed.rule)["Targets"][0]
    ecs = target["EcsParameters"]
    request: dict[str, Any] = {
        "cluster": target["Arn"],
        "taskDefinition": ecs["TaskDefinitionArn"],
        "count": 1,
        "launchType": ecs.get("LaunchType", "FARGATE"),
        "overrides": overrides(event),
        "startedBy": REDRIVE[:36],
    }
    if ecs.get("PlatformVersion"):
        request["platformVersion"] = ecs["PlatformVersion"]
    if ecs.get("NetworkConfiguration"):
        request["networkConfiguration"] = camel(ecs["NetworkConfiguration"])
    if ecs.get("EnableECSManagedTags"):
        request["enableECSManagedTags"] = True
    if ecs.get("PropagateTags"):
        request["propagateTags"] = ecs["PropagateTags"]
    answer = aws["ecs"].run_task(**request)
    if answer.get("failures") or not answer.get("tasks"):
        raise RedriveError(f"RunTask answered failures {answer.get('failures')}")
    return str(answer["tasks"][0]["taskArn"])


def _messages(sqs: Any, queue: str, wait_s: int) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=300,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def redrive(
    aws: Mapping[str, Any],
    deployed: Deployed,
    *,
    dry_run: bool = False,
    wait_s: int = 1,
    say: Callable[[dict[str, Any]], None] = lambda line: None,
) -> Report:
    sqs = aws["sqs"]
    queue = deployed.dead_letter_queue
    report = Report()
    kept: list[str] = []
    for message in _messages(sqs, queue, wait_s):
        line = _one(aws, deployed, message, dry_run)
        if line["action"] == "re-submitted":
            # Only now: a message is never lost between receive and re-submission.
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            report.resubmitted += 1
        else:
            kept.append(message["ReceiptHandle"])
            report.kept += line["action"] == "kept"
        report.lines.append(line)
        say(line)
    for handle in kept:  # visible again at once, for the next run or reader
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
    return report


def _one(
    aws: Mapping[str, Any], deployed: Deployed, message: Mapping[str, Any], dry_run: bool
) -> dict[str, Any]:
    """What to do with one message: re-submitted, would re-submit, or kept (and why)."""
    line: dict[str, Any] = {"message": message["MessageId"]}
    try:
        event = recorded_event(message["Body"])
    except ValueError as exc:
        return {**line, "action": "kept", "reason": f"not a record of an upload: {exc}"}
    line["upload"] = describe(event)
    if dry_run:
        return {**line, "action": "would re-submit"}
    try:
        started = resubmit(aws, deployed, event)
    except (RedriveError, ClientError, BotoCoreError) as exc:
        return {**line, "action": "kept", "reason": f"re-submission failed: {exc}"}
    return {**line, "action": "re-submitted", "started": started}


def run_redrive(args: argparse.Namespace) -> int:
    """The ``redrive`` subcommand: arguments in, a line per message out, a summary on
    stderr; exit 1 when any message was kept or nothing could be read."""
    import boto3

    def say(line: dict[str, object]) -> None:
        if args.json:
            print(json.dumps(line, ensure_ascii=False), flush=True)
            return
        what = line.get("upload") or f"message {line['message']}"
        detail = line.get("started") or line.get("reason") or ""
        print(f"{line['action']} {what} {detail}".rstrip(), flush=True)

    try:
        # Creating a client already fails without a region (botocore's NoRegionError).
        session = boto3.session.Session(region_name=args.region)
        aws = {
            name: session.client(name, endpoint_url=args.endpoint_url)
            for name in ("cloudformation", "sqs", "events", "ecs", "stepfunctions")
        }
        deployed = locate(aws, args.stack, args.processor)
        report = redrive(aws, deployed, dry_run=args.dry_run, say=say)
    except NoRegionError as exc:
        return fail("redrive", [f"{exc} Give --region, or set AWS_DEFAULT_REGION."])
    except (RedriveError, ClientError, BotoCoreError) as exc:
        return fail("redrive", [str(exc)])
    verb = "would re-submit" if args.dry_run else "re-submitted"
    count = len(report.lines) - report.kept if args.dry_run else report.resubmitted
    print(
        f"{deployed.processor} ({deployed.delivery}): {verb} {count}, kept {report.kept}",
        file=sys.stderr,
    )
    return 1 if report.kept else 0
