"""What one dead-letter message records, read without trusting its shape.

A processor's dead-letter queue holds three kinds of message, each a record of one
upload:

- EventBridge's dead-letter message (either mode): the S3 event itself, with the
  error in message attributes;
- the state machine's (Orchestrated): ``{"processor", "event", "error", "cause",
  "execution"}``;
- the failure rule's (Direct, a task that failed): ECS's "Task State Change" event,
  whose ``overrides`` hold the upload's ``S3_*`` environment. Only this one carries a
  key that went through the rule's InputTransformer, which does not JSON-escape what
  it substitutes (README, "Keys"), so only its key can differ from the upload's.

Anything else, and any of these with a field of the wrong type, is not a record this
module can use: ``ValueError`` says why, and the caller keeps the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from private_s3_worker.exitcodes import ExitCode

# The container environment the rule's InputTransformer (and the state machine's
# JSONPath) fill from the event: name -> (part of ``detail``, field).
ENVIRONMENT_FIELDS = (
    ("S3_BUCKET", ("bucket", "name")),
    ("S3_KEY", ("object", "key")),
    ("S3_SIZE", ("object", "size")),
    ("S3_ETAG", ("object", "etag")),
    ("S3_VERSION_ID", ("object", "version-id")),
)
CONTAINER = "worker"
# No version and no delete marker of the key the worker was given exists in the bucket,
# so the key was changed on the way: the worker's own code, from the same distribution.
UNKNOWN_KEY_EXIT = int(ExitCode.UNKNOWN_KEY)
# S3 object keys are at most 1,024 bytes of UTF-8 (Amazon S3 user guide, "Naming Amazon
# S3 objects"); a longer "key" is not a record of an upload.
MAX_KEY_BYTES = 1024

EVENT, STATE_MACHINE, FAILURE_RULE = "EventBridge", "state machine", "failure rule"


@dataclass(frozen=True)
class Record:
    """One upload as a dead-letter message records it."""

    event: dict[str, Any]  # the S3 "Object Created" event (rebuilt for ECS's event)
    origin: str  # EVENT, STATE_MACHINE or FAILURE_RULE
    exit_code: int | None = None  # failure rule: the worker container's exit code
    stop_code: str | None = None  # failure rule: ECS's stopCode

    @property
    def key_in_doubt(self) -> bool:
        """Whether the key may not be the upload's: it went through the InputTransformer
        and the worker said it does not exist, or the task never got to say."""
        return self.origin == FAILURE_RULE and self.exit_code in (None, UNKNOWN_KEY_EXIT)

    @property
    def bucket(self) -> str:
        return str(self.event["detail"]["bucket"]["name"])

    @property
    def key(self) -> str:
        return str(self.event["detail"]["object"]["key"])

    def with_key(self, key: str) -> dict[str, Any]:
        """The event with ``key`` in place of the recorded one (nothing else changed)."""
        detail = self.event["detail"]
        return {**self.event, "detail": {**detail, "object": {**detail["object"], "key": key}}}


def read_record(body: object) -> Record:
    """The record a message body holds; ValueError saying why when it holds none."""
    if not isinstance(body, str):
        raise ValueError("the message has no body")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:  # also a number past int's digit limit
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    origin = EVENT
    if isinstance(message.get("event"), dict):  # the state machine's dead letter
        message, origin = message["event"], STATE_MACHINE
    kind = message.get("detail-type")
    if kind == "Object Created":
        _check(message)
        return Record(message, origin)
    if kind == "ECS Task State Change" and origin == EVENT:
        return _task_record(message)
    raise ValueError("neither an S3 event, a state machine dead letter nor an ECS task event")


def recorded_event(body: str) -> dict[str, Any]:
    """The S3 "Object Created" event (or as much of it as the record keeps) of a message;
    ValueError saying why when the message is not a record of an upload."""
    return read_record(body).event


def _check(event: Mapping[str, Any]) -> None:
    detail = event.get("detail")
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    obj = detail.get("object") if isinstance(detail, dict) else None
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not (isinstance(name, str) and name and isinstance(key, str) and key):
        raise ValueError("the record has no bucket name or object key")


def _task_record(message: Mapping[str, Any]) -> Record:
    """ECS's "Task State Change" event, as the failure rule delivers it: the upload is in
    the ``worker`` container's environment overrides."""
    detail = message.get("detail")
    if not isinstance(detail, dict):
        raise ValueError("the ECS task event has no detail object")
    env = _environment(detail.get("overrides"))
    rebuilt: dict[str, Any] = {"bucket": {}, "object": {}}
    for name, (part, field) in ENVIRONMENT_FIELDS:
        if name in env:
            value: Any = env[name]
            # S3 objects are at most 5 TB: 13 digits; a longer "size" stays text (refused).
            if name == "S3_SIZE" and value.isascii() and value.isdigit() and len(value) < 20:
                value = int(value)
            rebuilt[part][field] = value
    event = {"source": "aws.s3", "detail-type": "Object Created", "detail": rebuilt}
    _check(event)
    stop_code = detail.get("stopCode")
    return Record(
        event,
        FAILURE_RULE,
        exit_code=_exit_code(detail.get("containers")),
        stop_code=stop_code if isinstance(stop_code, str) else None,
    )


def _environment(overrides: object) -> dict[str, str]:
    """The ``worker`` container's environment overrides; ValueError for any other shape."""
    if not isinstance(overrides, dict):
        raise ValueError("the ECS task event's overrides are not an object")
    containers = overrides.get("containerOverrides", [])
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise ValueError("the ECS task event's containerOverrides are not a list of objects")
    env: dict[str, str] = {}
    for container in containers:
        if container.get("name") != CONTAINER:
            continue
        entries = container.get("environment", [])
        if not isinstance(entries, list):
            raise ValueError(f"the {CONTAINER} container's environment is not a list")
        for entry in entries:
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("name"), str)
                and isinstance(entry.get("value"), str)
            ):
                raise ValueError(
                    f"the {CONTAINER} container's environment holds an entry that is not "
                    "a name and a value"
                )
            env[entry["name"]] = entry["value"]
    return env


def _exit_code(containers: object) -> int | None:
    """The ``worker`` container's exit code; None when it has none (the task never ran
    it) or the event does not say."""
    if not isinstance(containers, list):
        return None
    for container in containers:
        if isinstance(container, dict) and container.get("name") == CONTAINER:
            code = container.get("exitCode")
            return code if isinstance(code, int) and not isinstance(code, bool) else None
    return None


def delivery_problem(record: Record) -> str | None:
    """Why the processor's delivery could not carry this upload, or None.

    Both deliveries read the same fields: the state machine's JSONPath
    (``delivery.workflow.ENVIRONMENT_PATHS``) and the rule's InputTransformer
    (``delivery.direct.INPUT_PATHS``) need ``bucket.name``, ``object.key``, ``.size`` and
    ``.etag``; ``version-id`` is used when present. Re-submitting a record without them
    would only start a task (or an execution) that fails later.
    """
    detail = record.event["detail"]
    obj = detail["object"]
    for what, value in (("bucket name", detail["bucket"]["name"]), ("key", obj["key"])):
        problem = _text_problem(what, value)
        if problem:
            return problem
    if len(obj["key"].encode("utf-8")) > MAX_KEY_BYTES:
        return f"the key is longer than S3's {MAX_KEY_BYTES} bytes"
    size = obj.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return "the record has no object size (a whole number)"
    problem = _text_problem("ETag", obj.get("etag"))
    if problem:
        return problem
    if "version-id" in obj:
        return _text_problem("version ID", obj["version-id"])
    return None


def _text_problem(what: str, value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return f"the record has no {what}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \\uD800 can hold
        return f"the record's {what} is not valid Unicode"
    return None


def shown(text: str) -> str:
    """Text from a record on one line: as it is when printable, else JSON-quoted with
    escapes (a control character, a line separator or a lone surrogate in a key must
    neither break the line nor the output's encoding)."""
    return text if text.isprintable() else json.dumps(text)


def describe(event: Mapping[str, Any]) -> str:
    detail = event["detail"]
    etag = detail["object"].get("etag")
    return f"s3://{shown(str(detail['bucket']['name']))}/{shown(str(detail['object']['key']))}" + (
        f" (ETag {shown(etag)})" if isinstance(etag, str) and etag else ""
    )


def overrides(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``worker`` container's overrides, as the rule's InputTransformer means them
    (built as JSON, so any key is carried exactly)."""
    env = []
    for name, (part, field) in ENVIRONMENT_FIELDS:
        value = event["detail"][part].get(field)
        if value is not None:
            env.append({"name": name, "value": str(value)})
    return {"containerOverrides": [{"name": CONTAINER, "environment": env}]}
