"""``redrive`` never crashes on what it reads and never loses a message: properties over
arbitrary JSON messages and mutations of the three real record shapes, on small
in-memory stand-ins for the AWS clients (tests/test_redrive_keys.py runs the same paths
on moto).

The stand-ins record every call in one shared log, in order, and behave as the AWS API
reference describes for what redrive uses: SQS hides a message it hands out until it
is deleted or made visible again, and a receipt handle is valid until the next
receive of that message; S3 lists versions in key order, at most ``MaxKeys`` a page,
with markers to go on from.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import astuple, dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from private_s3_processor_cli.redrive import Deployed, Report, redrive
from private_s3_processor_cli.redrive_keys import delivered_form

from tests.conftest import load_event

OWN_BUCKET = "own-bucket"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"
RULE = "stack-ProcRule-1"
STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:proc"
TASK_DEFINITION = "arn:aws:ecs:eu-west-1:123456789012:task-definition/t:1"


def client_error(operation: str, code: str = "InternalError") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, operation)


@dataclass
class Log:
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, service: str, operation: str, **kwargs: Any) -> None:
        self.calls.append((service, operation, kwargs))


class FakeSQS:
    def __init__(self, log: Log, bodies: list[str]) -> None:
        self.log = log
        self.bodies = {f"m{i}": body for i, body in enumerate(bodies)}
        self.visible = list(self.bodies)  # in order
        self.handles: dict[str, str] = {}  # current handle -> message id
        self.counter = itertools.count()

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.log.add("sqs", "receive_message", **kwargs)
        take = self.visible[: kwargs.get("MaxNumberOfMessages", 1)]
        del self.visible[: len(take)]
        out = []
        for mid in take:
            for old in [h for h, m in self.handles.items() if m == mid]:
                del self.handles[old]  # a new receive makes the old handle stale
            handle = f"{mid}/{next(self.counter)}"
            self.handles[handle] = mid
            out.append({"MessageId": mid, "ReceiptHandle": handle, "Body": self.bodies[mid]})
        return {"Messages": out} if out else {}

    def _message(self, operation: str, handle: str) -> str:
        if handle not in self.handles:
            raise client_error(operation, "ReceiptHandleIsInvalid")
        return self.handles[handle]

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        self.log.add("sqs", "delete_message", ReceiptHandle=ReceiptHandle)
        mid = self._message("DeleteMessage", ReceiptHandle)
        del self.handles[ReceiptHandle]
        del self.bodies[mid]
        return {}

    def change_message_visibility(
        self,
        QueueUrl: str,
        ReceiptHandle: str,
        VisibilityTimeout: int,
    ) -> dict[str, Any]:
        self.log.add(
            "sqs",
            "change_message_visibility",
            ReceiptHandle=ReceiptHandle,
            VisibilityTimeout=VisibilityTimeout,
        )
        mid = self._message("ChangeMessageVisibility", ReceiptHandle)
        if VisibilityTimeout == 0 and mid not in self.visible:
            self.visible.append(mid)
        return {}

    def invisible(self) -> set[str]:
        """Messages still in the queue that no reader can receive now."""
        return set(self.bodies) - set(self.visible)


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    etag: str
    size: int
    deleted: bool = False  # a delete marker


class FakeS3:
    def __init__(self, log: Log, versions: list[Version]) -> None:
        self.log = log
        # Key order, then newest first within a key (as S3 lists them).
        self.entries = sorted(
            enumerate(versions), key=lambda iv: (iv[1].key.encode("utf-8"), -iv[0])
        )

    def list_object_versions(self, **kwargs: Any) -> dict[str, Any]:
        self.log.add("s3", "list_object_versions", **kwargs)
        if kwargs.get("Bucket") != OWN_BUCKET:
            raise client_error("ListObjectVersions", "NoSuchBucket")
        rows = [v for _, v in self.entries if v.key.startswith(kwargs.get("Prefix", ""))]
        marker = kwargs.get("KeyMarker")
        if marker is not None:
            after = kwargs.get("VersionIdMarker")
            at = next(
                (i + 1 for i, v in enumerate(rows) if (v.key, v.version_id) == (marker, after)),
                None,
            )
            if at is None:  # key marker alone: start after every version of that key
                at = sum(1 for v in rows if v.key.encode() <= marker.encode())
            rows = rows[at:]
        page = rows[: kwargs.get("MaxKeys", 1000)]
        truncated = len(rows) > len(page)
        answer: dict[str, Any] = {
            "IsTruncated": truncated,
            "Versions": [
                {"Key": v.key, "VersionId": v.version_id, "ETag": f'"{v.etag}"', "Size": v.size}
                for v in page
                if not v.deleted
            ],
            "DeleteMarkers": [{"Key": v.key, "VersionId": v.version_id} for v in page if v.deleted],
        }
        if truncated:
            answer["NextKeyMarker"] = page[-1].key
            answer["NextVersionIdMarker"] = page[-1].version_id
        return answer


class FakeStepFunctions:
    def __init__(self, log: Log, fail: bool = False) -> None:
        self.log, self.fail, self.counter = log, fail, itertools.count()

    def start_execution(self, stateMachineArn: str, input: str) -> dict[str, Any]:
        if self.fail:
            raise client_error("StartExecution", "ThrottlingException")
        arn = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{next(self.counter)}"
        self.log.add("stepfunctions", "start_execution", input=json.loads(input), arn=arn)
        return {"executionArn": arn}


class FakeECS:
    def __init__(self, log: Log, fail: str | None = None) -> None:
        self.log, self.fail, self.counter = log, fail, itertools.count()

    def run_task(self, **request: Any) -> dict[str, Any]:
        if self.fail == "error":
            raise client_error("RunTask", "ThrottlingException")
        if self.fail == "failures":
            return {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY"}]}
        arn = f"arn:aws:ecs:eu-west-1:123456789012:task/c/{next(self.counter)}"
        self.log.add("ecs", "run_task", overrides=request["overrides"], arn=arn)
        return {"tasks": [{"taskArn": arn}], "failures": []}


class FakeEvents:
    def __init__(self, log: Log, pattern: dict[str, Any]) -> None:
        self.log, self.pattern = log, pattern

    def list_targets_by_rule(self, Rule: str) -> dict[str, Any]:
        self.log.add("events", "list_targets_by_rule", Rule=Rule)
        return {
            "Targets": [
                {
                    "Id": "worker",
                    "Arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/c",
                    "EcsParameters": {
                        "TaskDefinitionArn": TASK_DEFINITION,
                        "LaunchType": "FARGATE",
                    },
                }
            ]
        }

    def describe_rule(self, Name: str) -> dict[str, Any]:
        self.log.add("events", "describe_rule", Name=Name)
        return {"Name": Name, "EventPattern": json.dumps(self.pattern)}


def fake_aws(
    bodies: list[str],
    versions: list[Version],
    *,
    prefix: str = "in/",
    fail: str | None = None,
) -> tuple[dict[str, Any], Log]:
    """The clients redrive uses, and their shared log. ``fail``: ``"error"`` (the
    re-submission API refuses) or ``"failures"`` (RunTask answers failures[])."""
    log = Log()
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [OWN_BUCKET]}, "object": {"key": [{"prefix": prefix}]}},
    }
    aws = {
        "sqs": FakeSQS(log, bodies),
        "s3": FakeS3(log, versions),
        "stepfunctions": FakeStepFunctions(log, fail=fail is not None),
        "ecs": FakeECS(log, fail),
        "events": FakeEvents(log, pattern),
    }
    return aws, log


# --- what the bucket holds, and the three real record shapes -----------------------------

STORED = [
    Version("in/a\\tb.csv", "v-tab", "e1", 3),
    Version("in/a\\u0041.csv", "v-u", "e2", 4),
    Version("in/dir/x\\\\y.csv", "v-bs", "e3", 5),
    Version("in/plain.csv", "v-plain", "e4", 6),
    Version("in/plain.csv", "v-gone", "e4", 6, deleted=True),
]
ORCHESTRATED = Deployed("Proc", RULE, QUEUE, STATE_MACHINE, OWN_BUCKET)
DIRECT = Deployed("Proc", RULE, QUEUE, None, OWN_BUCKET)


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    etag: str
    size: int
    version: str | None


def s3_event(u: Upload) -> dict[str, Any]:
    """EventBridge's dead-letter message: the S3 event itself."""
    event = load_event("s3-object-created.json")
    obj = event["detail"]["object"]
    event["detail"]["bucket"]["name"] = u.bucket
    obj.update(key=u.key, etag=u.etag, size=u.size)
    if u.version is None:
        del obj["version-id"]
    else:
        obj["version-id"] = u.version
    return event


def state_machine_letter(u: Upload) -> dict[str, Any]:
    return {
        "processor": "Proc",
        "event": s3_event(u),
        "error": "States.TaskFailed",
        "cause": json.dumps({"Containers": [{"ExitCode": 70}]}),
        "execution": f"{STATE_MACHINE}:x",
    }


def task_event(u: Upload, exit_code: int | None, stop_code: str) -> dict[str, Any]:
    """The failure rule's: ECS's "Task State Change" event with the task's overrides."""
    env = {"S3_BUCKET": u.bucket, "S3_KEY": u.key, "S3_SIZE": str(u.size), "S3_ETAG": u.etag}
    if u.version is not None:
        env["S3_VERSION_ID"] = u.version
    container: dict[str, Any] = {"name": "worker", "lastStatus": "STOPPED"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "version": "0",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "detail": {
            "lastStatus": "STOPPED",
            "stopCode": stop_code,
            "containers": [container],
            "overrides": {
                "containerOverrides": [
                    {
                        "name": "worker",
                        "environment": [{"name": k, "value": v} for k, v in env.items()],
                    }
                ]
            },
        },
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    # Lone surrogates too: JSON's "\ud800" escape carries them.
    | st.text(st.characters(exclude_categories=()), max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def uploads(draw: st.DrawFn) -> Upload:
    """Mostly a stored object as a record names it (its key as uploaded, or as
    EventBridge delivered it), else anything."""
    stored = draw(st.sampled_from([v for v in STORED if not v.deleted]))
    faithful = Upload(OWN_BUCKET, stored.key, stored.etag, stored.size, stored.version_id)
    delivered = delivered_form(stored.key) or stored.key
    anything = st.builds(
        Upload,
        bucket=st.sampled_from([OWN_BUCKET, "other-bucket"]) | st.text(max_size=8),
        key=st.sampled_from([stored.key, delivered]) | st.text(max_size=10),
        etag=st.sampled_from([stored.etag, "other-etag"]),
        size=st.sampled_from([stored.size, 99]),
        version=st.sampled_from([stored.version_id, "v-none", None]),
    )
    return draw(
        st.sampled_from([faithful, Upload(OWN_BUCKET, delivered, *astuple(faithful)[2:])])
        | anything
    )


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*path, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with up to three of its values replaced by any JSON, or removed."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        paths = _paths(doc)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node = doc
        for part in parents:
            node = node[part]
        if draw(st.booleans()):
            node[last] = draw(json_values)
        else:
            del node[last]
    return doc


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    upload = draw(uploads())
    shape = draw(
        st.sampled_from(["event", "state machine", "task"]).map(
            lambda kind: {
                "event": lambda: s3_event(upload),
                "state machine": lambda: state_machine_letter(upload),
                "task": lambda: task_event(
                    upload,
                    draw(st.sampled_from([66, 66, 70, 137, None])),
                    draw(st.sampled_from(["EssentialContainerExited", "TaskFailedToStart"])),
                ),
            }[kind]()
        )
    )
    return draw(mutated(shape))


bodies = st.lists(
    records().map(json.dumps)
    | records().map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=20),  # not JSON at all
    min_size=1,
    max_size=8,
)


# --- the properties -----------------------------------------------------------------------


def _strings(node: Any) -> set[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(node, dict):
        return set(node) | {s for v in node.values() for s in _strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in _strings(v)}
    return {node} if isinstance(node, str) else set()


def _resubmitted(service: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """bucket, key, size, etag and version of what a re-submission started."""
    if service == "stepfunctions":
        obj = kwargs["input"]["detail"]["object"]
        return {
            "bucket": kwargs["input"]["detail"]["bucket"]["name"],
            "key": obj["key"],
            "size": obj["size"],
            "etag": obj["etag"],
            "version": obj.get("version-id"),
        }
    (container,) = kwargs["overrides"]["containerOverrides"]
    assert container["name"] == "worker"
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert all(isinstance(v, str) for v in env.values())
    return {
        "bucket": env["S3_BUCKET"],
        "key": env["S3_KEY"],
        "size": int(env["S3_SIZE"]),
        "etag": env["S3_ETAG"],
        "version": env.get("S3_VERSION_ID"),
    }


def _from_message(started: dict[str, Any], body: str) -> bool:
    """Whether what was started is the upload ``body`` records (its key, or the stored key
    of the version it names when the recorded key is the one EventBridge delivered)."""
    strings = _strings(json.loads(body))
    if not {started["bucket"], started["etag"]} <= strings:
        return False
    if started["version"] is not None and started["version"] not in strings:
        return False
    if started["key"] in strings:
        return True
    stored = {(v.key, v.version_id) for v in STORED}
    return (started["key"], started["version"]) in stored and (
        delivered_form(started["key"]) in strings
    )


def check(bodies: list[str], aws: dict[str, Any], log: Log, report: Report, dry_run: bool) -> None:
    ids = {f"m{i}" for i in range(len(bodies))}
    assert sorted(line["message"] for line in report.lines) == sorted(ids)
    deleted: list[str] = []
    pending: tuple[str, dict[str, Any]] | None = None
    for service, operation, kwargs in log.calls:
        if operation in ("start_execution", "run_task"):
            assert pending is None, "two re-submissions for one message"
            pending = (service, kwargs)
        elif operation == "delete_message":
            # A message is deleted only right after its upload's re-submission.
            assert pending is not None, "deleted a message it did not re-submit"
            mid = kwargs["ReceiptHandle"].split("/")[0]
            started = _resubmitted(*pending)
            assert started["bucket"] == OWN_BUCKET
            assert isinstance(started["key"], str) and started["key"]
            assert isinstance(started["size"], int) and isinstance(started["etag"], str)
            assert _from_message(started, bodies[int(mid[1:])]), (started, mid)
            deleted.append(mid)
            pending = None
    assert pending is None, "re-submitted without deleting the message"
    sqs = aws["sqs"]
    assert sqs.invisible() == set(), "a kept message was left invisible"
    assert set(sqs.bodies) == ids - set(deleted)
    assert {line["message"] for line in report.lines if line["action"] == "re-submitted"} == set(
        deleted
    )
    assert report.kept == sum(line["action"] == "kept" for line in report.lines)
    for line in report.lines:
        assert line["action"] in ("re-submitted", "kept", "would re-submit")
        assert line["action"] != "kept" or line["reason"]
    if dry_run:
        assert not deleted


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    bodies=bodies,
    deployed=st.sampled_from([ORCHESTRATED, DIRECT]),
    fail=st.sampled_from([None, None, "error", "failures"]),
    dry_run=st.booleans(),
    limit=st.sampled_from([1, 2, 1000]),
)
def test_redrive_never_raises_and_deletes_only_what_it_resubmitted(
    bodies: list[str], deployed: Deployed, fail: str | None, dry_run: bool, limit: int
) -> None:
    aws, log = fake_aws(bodies, STORED, fail=fail)
    report = redrive(aws, deployed, dry_run=dry_run, wait_s=0, search_limit=limit)
    check(bodies, aws, log, report, dry_run)


def test_the_real_shapes_are_resubmitted_and_mangled_keys_recovered() -> None:
    """The unmutated shapes: the property above is not vacuous."""
    tab, u41, bs = (v for v in STORED[:3])
    shapes = [
        s3_event(Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain")),
        state_machine_letter(Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain")),
        *(
            task_event(
                Upload(OWN_BUCKET, delivered_form(v.key) or "", v.etag, v.size, v.version_id),
                66,
                "EssentialContainerExited",
            )
            for v in (tab, u41, bs)
        ),
        task_event(
            Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain"), None, "TaskFailedToStart"
        ),
    ]
    messages = [json.dumps(s) for s in shapes]
    for deployed in (ORCHESTRATED, DIRECT):
        aws, log = fake_aws(messages, STORED)
        report = redrive(aws, deployed, wait_s=0)
        check(messages, aws, log, report, dry_run=False)
        assert [line["action"] for line in report.lines] == ["re-submitted"] * 6
        assert [line.get("key") for line in report.lines[2:5]] == [tab.key, u41.key, bs.key]


def _task_with(overrides: Any) -> str:
    return json.dumps({"detail-type": "ECS Task State Change", "detail": {"overrides": overrides}})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"detail-type": "Object Created", "detail": "x"}', "no bucket name or object key"),
        (
            '{"detail-type": "Object Created", "detail": {"bucket": "b", "object": {"key": "k"}}}',
            "no bucket name or object key",
        ),
        (_task_with([1]), "overrides are not an object"),
        (_task_with({"containerOverrides": [1]}), "containerOverrides are not a list of objects"),
        (
            _task_with({"containerOverrides": [{"name": "worker", "environment": ["S3_KEY"]}]}),
            "not a name and a value",
        ),
        ('{"event": {"detail-type": "Object Created", "detail": null}}', "no bucket name"),
        ('"\\ud800"', "not a JSON object"),
        ("[" * 100_000, "not JSON"),
        ('{"detail-type": "Object Created", "detail": ' + "9" * 5000 + "}", "not JSON"),
    ],
)
def test_wrong_shapes_are_kept_visible_and_reported(body: str, reason: str) -> None:
    """The crashes issue 12 names, one by one (each raised a traceback before)."""
    aws, log = fake_aws([body], STORED)
    report = redrive(aws, DIRECT, wait_s=0)
    (line,) = report.lines
    assert line["action"] == "kept" and reason in line["reason"]
    assert aws["sqs"].invisible() == set() and set(aws["sqs"].bodies) == {"m0"}
    check([body], aws, log, report, dry_run=False)


@pytest.mark.parametrize(
    ("upload", "reason"),
    [
        (Upload("other-bucket", "in/plain.csv", "e4", 6, "v-plain"), "not to Proc's bucket"),
        (Upload(OWN_BUCKET, "in/plain.csv", "", 6, "v-plain"), "has no ETag"),
        (Upload(OWN_BUCKET, "k\ud800", "e4", 6, "v-plain"), "key is not valid Unicode"),
        (Upload(OWN_BUCKET, "k" * 1025, "e4", 6, "v-plain"), "longer than S3's 1024 bytes"),
    ],
)
def test_records_redrive_must_not_resubmit(upload: Upload, reason: str) -> None:
    """Another bucket's upload (never re-submitted to this processor), and records lacking
    what the delivery needs (never started only to fail later)."""
    for shape in (s3_event(upload), task_event(upload, 70, "EssentialContainerExited")):
        body = json.dumps(shape)
        for deployed in (ORCHESTRATED, DIRECT):
            aws, log = fake_aws([body], STORED)
            (line,) = redrive(aws, deployed, wait_s=0).lines
            assert line["action"] == "kept" and reason in line["reason"], line
            assert not [c for c in log.calls if c[1] in ("start_execution", "run_task")]
            assert aws["sqs"].invisible() == set()


def test_an_event_without_size_is_kept() -> None:
    event = s3_event(Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain"))
    del event["detail"]["object"]["size"]
    aws, _ = fake_aws([json.dumps(event)], STORED)
    (line,) = redrive(aws, ORCHESTRATED, wait_s=0).lines
    assert line["action"] == "kept" and "no object size" in line["reason"]


class Interrupt(BaseException):
    """Stands for Ctrl-C (KeyboardInterrupt) without disturbing pytest."""


@pytest.mark.parametrize("error", [Interrupt, RuntimeError, KeyboardInterrupt])
def test_an_interrupted_run_releases_every_message_it_holds(error: type[BaseException]) -> None:
    """Ctrl-C or an unexpected error after the first re-submission: the re-submitted
    message is gone, every other one received is visible again at once."""
    upload = Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain")
    messages = [json.dumps(s3_event(upload))] * 5
    aws, _ = fake_aws(messages, STORED)
    started = aws["stepfunctions"].start_execution
    calls = itertools.count()

    def start_then_fail(**kwargs: Any) -> dict[str, Any]:
        if next(calls) == 1:
            raise error("stop")
        result: dict[str, Any] = started(**kwargs)
        return result

    aws["stepfunctions"].start_execution = start_then_fail
    with pytest.raises(error):
        redrive(aws, ORCHESTRATED, wait_s=0)
    sqs = aws["sqs"]
    assert set(sqs.bodies) == {"m1", "m2", "m3", "m4"}  # m0 re-submitted and deleted
    assert sqs.invisible() == set()


def test_a_failed_delete_is_reported_and_released() -> None:
    upload = Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain")
    aws, _ = fake_aws([json.dumps(s3_event(upload))], STORED)

    def refuse(**kwargs: Any) -> dict[str, Any]:
        raise client_error("DeleteMessage", "AccessDenied")

    aws["sqs"].delete_message = refuse
    report = redrive(aws, ORCHESTRATED, wait_s=0)
    (line,) = report.lines
    assert line["action"] == "kept" and "could not be deleted" in line["reason"]
    assert line["started"] and report.kept == 1 and report.resubmitted == 0
    assert aws["sqs"].invisible() == set()


def test_a_rule_without_an_ecs_target_keeps_the_message() -> None:
    upload = Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain")
    aws, _ = fake_aws([json.dumps(s3_event(upload))], STORED)
    aws["events"].list_targets_by_rule = lambda **_: {"Targets": []}
    (line,) = redrive(aws, DIRECT, wait_s=0).lines
    assert line["action"] == "kept"
    assert line["reason"] == f"re-submission failed: the rule {RULE} has no ECS target"
    assert aws["sqs"].invisible() == set()


def test_an_unreadable_rule_widens_the_search_to_the_bucket() -> None:
    """The processor's prefix comes from the deployed rule; without it, "" (the whole
    bucket) is still a prefix of every key."""
    u41 = STORED[1]
    record = task_event(
        Upload(OWN_BUCKET, delivered_form(u41.key) or "", u41.etag, u41.size, u41.version_id),
        66,
        "EssentialContainerExited",
    )
    aws, log = fake_aws([json.dumps(record)], STORED)

    def refuse(**kwargs: Any) -> dict[str, Any]:
        raise client_error("DescribeRule", "AccessDeniedException")

    aws["events"].describe_rule = refuse
    (line,) = redrive(aws, DIRECT, wait_s=0).lines
    assert line["action"] == "re-submitted" and line["key"] == u41.key
    scans = [kw["Prefix"] for _, op, kw in log.calls if op == "list_object_versions"]
    assert scans == ["in/aA.csv", "in/aA.csv", ""]  # the check, the first scan, the bucket


def test_a_size_of_thousands_of_digits_is_refused() -> None:
    record = task_event(Upload(OWN_BUCKET, "in/plain.csv", "e4", 6, "v-plain"), 70, "x")
    record["detail"]["overrides"]["containerOverrides"][0]["environment"][2]["value"] = "9" * 5000
    aws, _ = fake_aws([json.dumps(record)], STORED)
    (line,) = redrive(aws, DIRECT, wait_s=0).lines
    assert line["action"] == "kept" and "no object size" in line["reason"]
