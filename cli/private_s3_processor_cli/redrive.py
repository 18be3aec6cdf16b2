"""``private-s3-processor redrive``: re-submit the uploads a processor's dead-letter
queue holds.

Each message is a record of one upload (``redrive_records``). Each upload is
re-submitted the way its processor's rule would have delivered it: ``StartExecution``
of the state machine (Orchestrated), ``RunTask`` with the rule target's parameters
(Direct; the overrides built as proper JSON, so a key EventBridge could not carry goes
through), or ``SendMessage`` of the event to the processor's queue (Queued: the
message's own body when it is the event, as both SQS's redrive and EventBridge's
dead-letter message leave it). A key the rule's InputTransformer changed is recovered
first (``redrive_keys``).

Nothing is lost: a message is deleted only after its re-submission was accepted.
Every other message it received (one it cannot read, one of another bucket, one
lacking what the delivery needs, one whose re-submission failed, and every message
still held when the run is interrupted or fails) is made visible again before
redrive returns, and each is reported with the reason. The worker skips an upload it
already processed (exit 10), so a message delivered twice does no harm.

The command line (clients, output, exit status) is ``redrive_command``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .ecs_api import camel
from .redrive_keys import (
    DEFAULT_SEARCH_LIMIT,
    KeyFinder,
    NotRecovered,
    prefix_of_pattern,
    true_key,
)
from .redrive_records import (
    EVENT,
    delivery_problem,
    describe,
    overrides,
    read_record,
    recorded_event,
    shown,
)

__all__ = ["Deployed", "RedriveError", "Report", "locate", "recorded_event", "redrive"]

REDRIVE = "private-s3-processor redrive"
# The services the functions below call, the keys of their ``aws`` mapping.
CLIENTS = ("cloudformation", "sqs", "events", "ecs", "stepfunctions", "s3")
# While redrive holds a message it is invisible to other readers this long; whatever it
# does not delete is made visible again at once when it is done with it.
HOLD_SECONDS = 300


class RedriveError(Exception):
    """A problem the user can fix (no such stack or processor); exit status 1."""


@dataclass(frozen=True)
class Deployed:
    """One processor of a stack, as redrive needs it."""

    processor: str
    rule: str
    dead_letter_queue: str
    state_machine: str | None
    bucket: str
    queue: str | None = None  # Queued: the processing queue's URL

    @property
    def delivery(self) -> str:
        if self.queue:
            return "Queued"
        return "Orchestrated" if self.state_machine else "Direct"


@dataclass
class Report:
    resubmitted: int = 0
    kept: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)
    examined: int = 0  # object versions listed to recover keys


def locate(aws: Mapping[str, Any], stack: str, processor: str) -> Deployed:
    # ListStackResources, paged: DescribeStackResources returns only a stack's first 100
    # resources (CloudFormation API reference), fewer than 7 processors' worth.
    physical: dict[str, str] = {}
    try:
        pages = aws["cloudformation"].get_paginator("list_stack_resources")
        for page in pages.paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                if "LogicalResourceId" in r:  # moto leaves it out of some resources
                    physical[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
    except ClientError as exc:
        raise RedriveError(f"stack {stack}: {exc.response['Error']['Message']}") from None
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
    if not physical.get(f"{processor}Bucket"):
        raise RedriveError(f"stack {stack} has no bucket {processor}Bucket for {processor}")
    return Deployed(
        processor=processor,
        rule=physical[f"{processor}Rule"].rsplit("/", 1)[-1],
        dead_letter_queue=physical[f"{processor}DeadLetterQueue"],
        state_machine=physical.get(f"{processor}StateMachine"),
        bucket=physical[f"{processor}Bucket"],
        queue=physical.get(f"{processor}Queue") or None,
    )


def processor_prefix(aws: Mapping[str, Any], deployed: Deployed) -> str:
    """The key prefix of the processor's rule (its deployed EventPattern), or "" when the
    rule cannot be read or says nothing simpler: "" only makes the search wider."""
    try:
        pattern = aws["events"].describe_rule(Name=deployed.rule).get("EventPattern")
        return prefix_of_pattern(json.loads(pattern)) if isinstance(pattern, str) else ""
    except (ClientError, BotoCoreError, ValueError, RecursionError):
        return ""


def ecs_target(aws: Mapping[str, Any], deployed: Deployed) -> dict[str, Any]:
    """The Direct rule's ECS target: the parameters a re-submitted task runs with."""
    targets = aws["events"].list_targets_by_rule(Rule=deployed.rule).get("Targets", [])
    target = next((t for t in targets if t.get("EcsParameters")), None)
    if target is None:  # the stack was changed by hand: nothing to run the task with
        raise RedriveError(f"the rule {deployed.rule} has no ECS target")
    return dict(target)


def _once(read: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``read`` called on first use and its answer kept for the run (the rule's target
    does not change while redrive runs); a read that fails is tried again next time."""
    kept: list[dict[str, Any]] = []

    def value() -> dict[str, Any]:
        if not kept:
            kept.append(read())
        return kept[0]

    return value


def resubmit(
    aws: Mapping[str, Any],
    deployed: Deployed,
    event: dict[str, Any],
    target: Callable[[], dict[str, Any]] | None = None,
    body: str | None = None,
) -> str:
    """Start processing ``event`` again; returns the execution or task ARN, or the
    message ID. ``target`` gives the Direct rule's ECS target (read from the rule when
    not given); ``body``, the message to send when Queued (else the event as JSON)."""
    if deployed.queue:
        sent = aws["sqs"].send_message(
            QueueUrl=deployed.queue, MessageBody=body if body is not None else json.dumps(event)
        )
        return f"message {sent['MessageId']} in {deployed.queue.rsplit('/', 1)[-1]}"
    if deployed.state_machine:
        answer = aws["stepfunctions"].start_execution(
            stateMachineArn=deployed.state_machine, input=json.dumps(event)
        )
        return str(answer["executionArn"])
    rule_target = target() if target else ecs_target(aws, deployed)
    ecs = rule_target["EcsParameters"]
    request: dict[str, Any] = {
        "cluster": rule_target["Arn"],
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


def _messages(
    sqs: Any, queue: str, wait_s: int, held: MutableMapping[str, str]
) -> Iterator[dict[str, Any]]:
    """Each message of the queue once; every message received is in ``held`` (its ID ->
    receipt handle) from the moment it arrives until the caller lets go of it."""
    seen: set[str] = set()
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=HOLD_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in batch:
            held[message["MessageId"]] = message["ReceiptHandle"]
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def _release(sqs: Any, queue: str, handles: Iterable[str]) -> None:
    """Make held messages visible again at once, for the next run or reader. One that
    cannot be released becomes visible by itself when its hold ends."""
    for handle in handles:
        try:
            sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
        except (ClientError, BotoCoreError):
            continue


def redrive(
    aws: Mapping[str, Any],
    deployed: Deployed,
    *,
    dry_run: bool = False,
    wait_s: int = 1,
    say: Callable[[dict[str, Any]], None] = lambda line: None,
    search_limit: int = DEFAULT_SEARCH_LIMIT,
) -> Report:
    sqs = aws["sqs"]
    queue = deployed.dead_letter_queue
    report = Report()
    keys = KeyFinder(
        aws["s3"], deployed.bucket, lambda: processor_prefix(aws, deployed), search_limit
    )
    # Read once per run, not once per message (ListTargetsByRule has its own quota).
    target = _once(lambda: ecs_target(aws, deployed))
    held: dict[str, str] = {}
    try:
        for message in _messages(sqs, queue, wait_s, held):
            line = _one(aws, deployed, keys, target, message, dry_run)
            if line["action"] == "re-submitted":
                # Only now: a message is never lost between receive and re-submission.
                try:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                except (ClientError, BotoCoreError) as exc:
                    line = {
                        **line,
                        "action": "kept",
                        "reason": f"re-submitted, but the message could not be deleted ({exc}); "
                        "a later run re-submits it again, which the worker skips",
                    }
                else:
                    held.pop(message["MessageId"], None)
                    report.resubmitted += 1
            report.kept += line["action"] == "kept"
            report.lines.append(line)
            say(line)
    finally:
        # Also when interrupted or failing: nothing waits out its hold invisibly.
        _release(sqs, queue, held.values())
        report.examined = keys.examined
    return report


def _one(
    aws: Mapping[str, Any],
    deployed: Deployed,
    keys: KeyFinder,
    target: Callable[[], dict[str, Any]],
    message: Mapping[str, Any],
    dry_run: bool,
) -> dict[str, Any]:
    """What to do with one message: re-submitted, would re-submit, or kept (and why)."""
    line: dict[str, Any] = {"message": message["MessageId"]}
    try:
        record = read_record(message.get("Body"))
    except ValueError as exc:
        return {**line, "action": "kept", "reason": f"not a record of an upload: {exc}"}
    line["upload"] = describe(record.event)
    if record.bucket != deployed.bucket:
        return {
            **line,
            "action": "kept",
            "reason": f"an upload to bucket {shown(record.bucket)}, not to {deployed.processor}'s "
            f"bucket {deployed.bucket}: not re-submitted",
        }
    problem = delivery_problem(record)
    if problem:
        return {
            **line,
            "action": "kept",
            "reason": f"{problem}; {deployed.delivery} delivery needs the bucket, key, size "
            "and ETag",
        }
    event = record.event
    if record.key_in_doubt:
        try:
            key = true_key(keys, record)
        except NotRecovered as exc:
            return {**line, "action": "kept", "reason": f"key not recovered: {exc}"}
        except (ClientError, BotoCoreError) as exc:
            if record.exit_code is not None or not _refused(exc):
                return {**line, "action": "kept", "reason": f"could not check the key: {exc}"}
            # A task that never ran, and no s3:ListBucketVersions: re-submit the key as
            # recorded. Were it altered, the worker exits 66 and it is dead-lettered
            # again (visible, not lost); keeping it would block every such record.
            key = record.key
            line["key_check"] = f"skipped: {exc}"
        if key != record.key:
            event = record.with_key(key)
            line.update(upload=describe(event), key=key, delivered_key=record.key)
    if dry_run:
        return {**line, "action": "would re-submit"}
    # The event as it came (SQS moved it, or EventBridge dead-lettered it): the same body.
    body = message["Body"] if record.origin == EVENT and event is record.event else None
    try:
        started = resubmit(aws, deployed, event, target, body)
    except (RedriveError, ClientError, BotoCoreError) as exc:
        return {**line, "action": "kept", "reason": f"re-submission failed: {exc}"}
    return {**line, "action": "re-submitted", "started": started}


def _refused(exc: ClientError | BotoCoreError) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "AccessDenied",
        "403",
    )
