"""EventBridge in the emulator, played the way AWS documents it.

moto delivers S3 events to rules but does not run ECS targets (one raising stops the
delivery to later rules) nor apply InputTransformers to S3 events: a "tap" rule,
created before any stack so it is evaluated first, copies every S3 event to an SQS
queue, and the delivery modes play the rules' targets from there: the pattern as
stored in the emulator, the target's InputTransformer as stored. moto names the
event's ETag field ``eTag`` where AWS documents ``etag``: the event is put in the
documented shape before the transformer reads it. ECS's task-state events, which
the emulator never emits, are made here in their documented shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from private_s3_processor.rules import MAX_OVERRIDES_CHARS

from ..templates import DEFAULT_ACCOUNT
from .emulator import REGION
from .model import Processor, Row

TAP = "private-s3-local-tap"


def create_tap(aws: Mapping[str, Any]) -> str:
    """A rule copying every S3 event to a queue. Created before the stack's rules: moto
    evaluates rules in creation order and stops at an ECS target that raises."""
    queue = aws["sqs"].create_queue(QueueName=TAP)["QueueUrl"]
    arn = aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    aws["events"].put_rule(Name=TAP, EventPattern=json.dumps({"source": ["aws.s3"]}))
    aws["events"].put_targets(
        Rule=TAP, Targets=[{"Id": "tap", "Arn": arn["Attributes"]["QueueArn"]}]
    )
    return str(queue)


def tap_queue(aws: Mapping[str, Any]) -> str:
    """The tap of an emulator, created on first use (before any stack's rules)."""
    rules = aws["events"].list_rules(NamePrefix=TAP)["Rules"]
    if any(r["Name"] == TAP for r in rules):
        return str(aws["sqs"].get_queue_url(QueueName=TAP)["QueueUrl"])
    return create_tap(aws)


def documented_shape(event: dict[str, Any]) -> dict[str, Any]:
    """moto writes ``detail.object.eTag``; AWS's S3 events carry ``etag``."""
    obj = event.get("detail", {}).get("object", {})
    if "eTag" in obj and "etag" not in obj:
        obj["etag"] = obj.pop("eTag")
    return event


_MISSING = object()


def json_path(event: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$.detail.object.key``), or _MISSING."""
    node = event
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def apply_input_transformer(transformer: Mapping[str, Any], event: dict[str, Any]) -> str:
    """The target input EventBridge builds: each ``<var>`` replaced by the raw value at its
    path. Strings are not JSON-escaped (the documented behaviour that makes a key with
    ``"`` or ``\\`` invalid input); a path missing from the event leaves ``<var>``."""
    text = str(transformer["InputTemplate"])
    for var, path in (transformer.get("InputPathsMap") or {}).items():
        value = json_path(event, str(path))
        if value is _MISSING:
            continue
        raw = value if isinstance(value, str) else json.dumps(value)
        text = text.replace(f"<{var}>", raw)
    return text


def overrides_problem(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed overrides, or why ECS/EventBridge would refuse them."""
    if len(text) > MAX_OVERRIDES_CHARS:
        return None, f"overrides are {len(text)} characters; ECS allows {MAX_OVERRIDES_CHARS}"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"the InputTransformer produced invalid JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, "the InputTransformer did not produce an object"
    return parsed, None


def dead_letter(
    aws: Mapping[str, Any],
    p: Processor,
    event: dict[str, Any],
    error: str,
    code: str = "InvalidInput",
) -> None:
    """What EventBridge does with a target it cannot invoke: the event, with the error in
    message attributes, to the target's dead-letter queue."""
    attributes = {
        "ERROR_CODE": code,
        "ERROR_MESSAGE": error[:1000],
        "RULE_ARN": p.rule_arn,
        "TARGET_ARN": p.target["Arn"],
    }
    aws["sqs"].send_message(
        QueueUrl=p.dead_letter_queue,
        MessageBody=json.dumps(event),
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    )


def single_elements_unwrapped(node: Any) -> Any:
    """``[{...}]`` -> ``{...}`` throughout, for moto's matcher.

    EventBridge matches a pattern field inside an array of objects when any element
    matches (``"containers": {"exitCode": [...]}`` on ECS events); moto's matcher does
    not descend into arrays. For a one-element array the two agree exactly, and a
    task here has one container."""
    if isinstance(node, dict):
        return {k: single_elements_unwrapped(v) for k, v in node.items()}
    if isinstance(node, list) and len(node) == 1 and isinstance(node[0], dict):
        return single_elements_unwrapped(node[0])
    return node


def task_stopped_event(p: Processor, row: Row) -> dict[str, Any]:
    """The "ECS Task State Change" event ECS emits when the task stops (its documented
    shape, the fields the failure rule reads)."""
    cluster_arn = (
        p.cluster
        if p.cluster.startswith("arn:")
        else f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT}:cluster/{p.cluster}"
    )
    container: dict[str, Any] = {"name": "worker", "lastStatus": "STOPPED", "taskArn": row.task_arn}
    if row.exit_code is not None:
        container["exitCode"] = row.exit_code
    return {
        "version": "0",
        "id": row.task_arn.rsplit("/", 1)[-1],
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": DEFAULT_ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [row.task_arn],
        "detail": {
            "clusterArn": cluster_arn,
            "taskArn": row.task_arn,
            "taskDefinitionArn": p.task_definition,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "launchType": "FARGATE",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [container],
            "overrides": row.overrides or {},
        },
    }
