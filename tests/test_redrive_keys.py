"""``redrive`` recovers the keys EventBridge's InputTransformer changed (Direct delivery),
on moto: the failure rule's record carries the delivered key, the version ID, ETag and
size; redrive checks the key with one ListObjectVersions call and otherwise finds the
version in a bounded scan, then re-submits with the real key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from private_s3_processor_cli.local.emulator import CREDENTIALS
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.main import main
from private_s3_processor_cli.redrive import Deployed, Report, redrive
from private_s3_processor_cli.redrive_keys import delivered_form, prefix_of_pattern
from private_s3_processor_cli.redrive_records import UNKNOWN_KEY_EXIT
from private_s3_worker.exitcodes import ExitCode

from tests.conftest import quiet

REGION = CREDENTIALS["AWS_REGION"]
BUCKET = "redrive-keys-bucket"
# Real keys whose backslash forms a JSON escape; the rule delivers each as another key.
TAB, U0041, BACKSLASH = "a\\tb.csv", "a\\u0041.csv", "dir/x\\\\y.csv"


@dataclass
class Stack:
    """What a deployed processor has, built directly on moto."""

    aws: dict[str, Any]
    direct: Deployed
    orchestrated: Deployed
    lists: list[dict[str, Any]]  # every ListObjectVersions request, in order

    def put(self, key: str, body: bytes = b"x,y\n") -> dict[str, Any]:
        """Upload ``key``; the failure rule's record of it, as the task received it."""
        answer = self.aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)
        return {
            "S3_BUCKET": BUCKET,
            "S3_KEY": delivered_form(key) or key,
            "S3_SIZE": str(len(body)),
            "S3_ETAG": answer["ETag"].strip('"'),
            "S3_VERSION_ID": answer["VersionId"],
        }

    def dead_letter(self, env: dict[str, str], exit_code: int | None = UNKNOWN_KEY_EXIT) -> None:
        container: dict[str, Any] = {"name": "worker", "lastStatus": "STOPPED"}
        if exit_code is not None:
            container["exitCode"] = exit_code
        event = {
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "detail": {
                "lastStatus": "STOPPED",
                "stopCode": "EssentialContainerExited" if exit_code else "TaskFailedToStart",
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
        self.aws["sqs"].send_message(
            QueueUrl=self.direct.dead_letter_queue, MessageBody=json.dumps(event)
        )

    def queued(self) -> int:
        attributes = self.aws["sqs"].get_queue_attributes(
            QueueUrl=self.direct.dead_letter_queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"  # nothing held
        return int(attributes["ApproximateNumberOfMessages"])

    def started_keys(self) -> list[str]:
        """S3_KEY of every task RunTask started, and the key of every execution."""
        ecs, sfn = self.aws["ecs"], self.aws["stepfunctions"]
        keys = []
        arns = ecs.list_tasks(cluster="c")["taskArns"]
        for task in ecs.describe_tasks(cluster="c", tasks=arns)["tasks"] if arns else []:
            (container,) = task["overrides"]["containerOverrides"]
            keys += [e["value"] for e in container["environment"] if e["name"] == "S3_KEY"]
        machine = self.orchestrated.state_machine
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            keys.append(json.loads(described["input"])["detail"]["object"]["key"])
        return sorted(keys)


def _stack(prefix: str) -> Stack:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    make: Any = session.client
    aws = {n: make(n) for n in ("s3", "sqs", "events", "ecs", "stepfunctions")}
    s3 = aws["s3"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    queue = aws["sqs"].create_queue(QueueName="dlq")["QueueUrl"]
    cluster = aws["ecs"].create_cluster(clusterName="c")["cluster"]["clusterArn"]
    task = aws["ecs"].register_task_definition(
        family="stack-Proc",
        containerDefinitions=[{"name": "worker", "image": "w:1", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    pattern: dict[str, Any] = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}},
    }
    if prefix:
        pattern["detail"]["object"] = {"key": [{"prefix": prefix}]}
    aws["events"].put_rule(Name="stack-ProcRule", EventPattern=json.dumps(pattern))
    aws["events"].put_targets(
        Rule="stack-ProcRule",
        Targets=[
            {
                "Id": "worker",
                "Arn": cluster,
                "RoleArn": "arn:aws:iam::123456789012:role/events",
                "EcsParameters": {"TaskDefinitionArn": task, "LaunchType": "FARGATE"},
            }
        ],
    )
    machine = aws["stepfunctions"].create_state_machine(
        name="stack-Proc",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    lists: list[dict[str, Any]] = []
    s3.meta.events.register(
        "provide-client-params.s3.ListObjectVersions",
        lambda params, **_: lists.append(dict(params)),
    )
    return Stack(
        aws,
        Deployed("Proc", "stack-ProcRule", queue, None, BUCKET),
        Deployed("Proc", "stack-ProcRule", queue, machine, BUCKET),
        lists,
    )


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws():
        yield _stack("")


@pytest.fixture
def prefixed() -> Iterator[Stack]:
    with mock_aws():
        yield _stack("in/")


def run(stack: Stack, deployed: Deployed, **options: Any) -> Report:
    return redrive(stack.aws, deployed, wait_s=0, **options)


@pytest.mark.parametrize("mode", ["direct", "orchestrated"])
def test_each_mangled_key_is_recovered_and_resubmitted(stack: Stack, mode: str) -> None:
    for noise in ("a.csv", "aA", "b/c.csv", "dir/x.csv", "dir/y\\z.csv"):
        stack.put(noise)
    for key in (TAB, U0041, BACKSLASH):
        stack.dead_letter(stack.put(key))
    deployed = getattr(stack, mode)
    report = run(stack, deployed)
    assert [line["action"] for line in report.lines] == ["re-submitted"] * 3, report.lines
    assert [(line["delivered_key"], line["key"]) for line in report.lines] == [
        ("a\tb.csv", TAB),
        ("aA.csv", U0041),
        ("dir/x\\y.csv", BACKSLASH),
    ]
    assert stack.started_keys() == sorted([TAB, U0041, BACKSLASH])
    assert stack.queued() == 0
    # One check per message. The scan under the delivered key up to its first decoded
    # escape ("a") also indexes a\u0041.csv, so the second message needs no scan.
    assert [r["Prefix"] for r in stack.lists if r.get("MaxKeys") == 1] == [
        "a\tb.csv",
        "aA.csv",
        "dir/x\\y.csv",
    ]
    assert [r["Prefix"] for r in stack.lists if r.get("MaxKeys") != 1] == ["a", "dir/x"]
    assert report.examined == 4 + 2  # a.csv aA a\tb.csv a\u0041.csv; dir/x.csv dir/x\\y.csv


def test_the_rule_prefix_bounds_the_second_scan(prefixed: Stack) -> None:
    prefixed.put("out/a\\u0041.csv")  # not under in/: never listed
    prefixed.dead_letter(prefixed.put("in/" + U0041))
    (line,) = run(prefixed, prefixed.direct).lines
    assert line["action"] == "re-submitted" and line["key"] == "in/" + U0041
    assert [r["Prefix"] for r in prefixed.lists if r.get("MaxKeys") != 1] == ["in/aA.csv", "in/"]


def test_a_key_that_exists_is_resubmitted_as_recorded_with_one_check(stack: Stack) -> None:
    env = stack.put("plain.csv")
    stack.aws["s3"].delete_object(Bucket=BUCKET, Key="plain.csv")  # a delete marker counts
    stack.dead_letter(env)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "re-submitted" and "key" not in line
    assert stack.started_keys() == ["plain.csv"]
    assert stack.lists == [{"Bucket": BUCKET, "Prefix": "plain.csv", "MaxKeys": 1}]


def test_a_longer_key_under_the_delivered_one_does_not_make_it_exist(stack: Stack) -> None:
    """Prefix also lists longer keys: the check wants the exact key."""
    stack.put("a\tb.csv.bak")
    stack.dead_letter(stack.put(TAB))
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "re-submitted" and line["key"] == TAB


def test_a_task_that_ran_and_failed_is_not_searched(stack: Stack) -> None:
    """Exit 70: the worker found the object, so the key is the upload's."""
    stack.dead_letter(stack.put("plain.csv"), exit_code=70)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "re-submitted" and stack.lists == []


def test_the_rules_target_is_read_once_per_run(stack: Stack) -> None:
    """Direct re-submits every task with the rule target's parameters: one
    ListTargetsByRule for the run, not one per message."""
    reads: list[str] = []
    stack.aws["events"].meta.events.register(
        "provide-client-params.events.ListTargetsByRule", lambda params, **_: reads.append("x")
    )
    for name in ("one.csv", "two.csv", "three.csv"):
        stack.dead_letter(stack.put(name), exit_code=70)
    report = run(stack, stack.direct)
    assert [line["action"] for line in report.lines] == ["re-submitted"] * 3
    assert len(reads) == 1


def test_a_task_that_never_started_has_its_key_checked(stack: Stack) -> None:
    stack.dead_letter(stack.put(TAB), exit_code=None)  # stopCode TaskFailedToStart
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "re-submitted" and line["key"] == TAB


def _refuse_listing(stack: Stack) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectVersions"
        )

    stack.aws["s3"].meta.events.register("before-call.s3.ListObjectVersions", refuse)


def test_without_list_permission_a_task_that_never_started_goes_as_recorded(
    stack: Stack,
) -> None:
    """No s3:ListBucketVersions: the key cannot be checked; the worker checks it (66)."""
    env = stack.put(TAB)
    stack.dead_letter(env, exit_code=None)
    _refuse_listing(stack)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "re-submitted", line
    assert "AccessDenied" in line["key_check"]
    assert stack.started_keys() == [env["S3_KEY"]] and stack.queued() == 0


def test_without_list_permission_an_unknown_key_is_kept(stack: Stack) -> None:
    """Exit 66: re-submitting the recorded key would only fail again."""
    stack.dead_letter(stack.put(TAB))
    _refuse_listing(stack)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "kept" and "could not check the key" in line["reason"]
    assert stack.queued() == 1


def test_one_scan_serves_every_message_of_a_run(stack: Stack) -> None:
    keys = [f"k{i}\\u0041.csv" for i in range(3)]
    for key in keys:
        stack.dead_letter(stack.put(key))
    report = run(stack, stack.direct)
    assert [line["key"] for line in report.lines] == keys
    scans = [r["Prefix"] for r in stack.lists if r.get("MaxKeys") != 1]
    assert scans == ["k0A.csv", ""]  # the others were found in the index of that scan
    assert report.examined == 3


def test_a_key_not_found_within_the_limit_is_kept_and_says_what_was_searched(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(12):
        stack.put(f"early/{i:02}.csv")  # sorted before the upload, listed first
    stack.dead_letter(stack.put("zz\\u0041.csv"))
    report = run(stack, stack.direct, search_limit=10)
    (line,) = report.lines
    assert line["action"] == "kept" and report.kept == 1
    assert line["reason"] == (
        f"key not recovered: no version {json.loads(_body(stack))['S3_VERSION_ID']} "
        f"(ETag {json.loads(_body(stack))['S3_ETAG']}, 4 bytes) in bucket {BUCKET}: "
        'under "zzA.csv": listed in full; in the whole bucket: listed in part (the search '
        "limit was reached); 10 of --search-limit 10 versions examined this run"
    )
    assert stack.queued() == 1  # kept, and visible again
    assert stack.started_keys() == []
    # A larger limit finds it on the next run.
    (line,) = run(stack, stack.direct, search_limit=100).lines
    assert line["action"] == "re-submitted" and line["key"] == "zz\\u0041.csv"
    assert stack.queued() == 0


def _body(stack: Stack) -> str:
    """The S3_* environment of the one message in the queue."""
    sqs = stack.aws["sqs"]
    (message,) = sqs.receive_message(QueueUrl=stack.direct.dead_letter_queue, VisibilityTimeout=0)[
        "Messages"
    ]
    (container,) = json.loads(message["Body"])["detail"]["overrides"]["containerOverrides"]
    return json.dumps({e["name"]: e["value"] for e in container["environment"]})


def test_a_record_without_a_version_id_is_kept(stack: Stack) -> None:
    env = stack.put(TAB)
    del env["S3_VERSION_ID"]
    stack.dead_letter(env)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "kept"
    assert "has no version ID to find the upload by" in line["reason"]
    assert stack.queued() == 1


def test_a_version_whose_key_the_rule_would_not_deliver_so_is_kept(stack: Stack) -> None:
    """Same version ID and ETag, but the key it is under does not decode to the delivered
    key: not the upload the record names."""
    env = stack.put(TAB)
    env["S3_KEY"] = "a\tc.csv"
    stack.dead_letter(env)
    (line,) = run(stack, stack.direct).lines
    assert line["action"] == "kept"
    assert 'would not have delivered as "a\\tc.csv"' in line["reason"]


def test_dry_run_recovers_but_starts_nothing(stack: Stack) -> None:
    stack.dead_letter(stack.put(TAB))
    (line,) = run(stack, stack.direct, dry_run=True).lines
    assert line["action"] == "would re-submit" and line["key"] == TAB
    assert stack.started_keys() == [] and stack.queued() == 1


# --- units --------------------------------------------------------------------------------


def test_the_exit_code_is_the_workers() -> None:
    assert UNKNOWN_KEY_EXIT == ExitCode.UNKNOWN_KEY


@pytest.mark.parametrize(
    ("key", "delivered"),
    [
        (TAB, "a\tb.csv"),
        (U0041, "aA.csv"),
        (BACKSLASH, "dir/x\\y.csv"),
        ("a\\/b", "a/b"),
        ('a\\"b', 'a"b'),
        ("plain", "plain"),
        ("a\\qb", None),  # not a JSON escape: invalid input, EventBridge dead-letters it
        ('a"b', None),
        ("a\tb", None),  # a raw control character: invalid input too
    ],
)
def test_delivered_form(key: str, delivered: str | None) -> None:
    assert delivered_form(key) == delivered


@pytest.mark.parametrize(
    ("keys", "prefix"),
    [
        ([{"prefix": "in/"}], "in/"),
        ([{"wildcard": "in/*.csv"}], "in/"),
        ([{"wildcard": "in\\*x/*.csv"}, "in*x/a.csv"], "in*x/"),
        ([{"wildcard": "a\\\\b*"}], "a\\b"),
        ([{"suffix": ".csv"}], ""),
        (None, ""),
        ("in/", ""),
        ([{"prefix": {"equals-ignore-case": "in/"}}], ""),
    ],
)
def test_prefix_of_pattern(keys: Any, prefix: str) -> None:
    pattern: dict[str, Any] = {"detail": {"bucket": {"name": ["b"]}}}
    if keys is not None:
        pattern["detail"]["object"] = {"key": keys}
    assert prefix_of_pattern(pattern) == prefix


# --- end to end on the local flow ---------------------------------------------------------

KEYS_TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Keys:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
      OutputPrefix: out/
      Environment:
        PROCESSOR: tests.worker_processors:upper
"""


def test_the_local_flow_dead_letters_the_mangled_keys_and_redrive_processes_them(
    emulator: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Direct: the InputTransformer changes each key, the worker exits 66, the failure rule
    dead-letters the task's event; redrive, given only the stack and the endpoint (no
    region or credentials anywhere), recovers each key and the re-run processes it."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    template = tmp_path / "keys.yaml"
    template.write_text(KEYS_TEMPLATE)
    body = tmp_path / "b.csv"
    body.write_text("x\n")
    keys = ["in/" + TAB, "in/" + U0041, "in/" + BACKSLASH]
    with deploy(emulator, template, {}, quiet) as session:
        for key in keys:
            session.upload(body, key, session.processors["Keys"])
        session.settle()
        assert {(r.key, r.exit_code, r.outcome) for r in session.results()} == {
            (k, UNKNOWN_KEY_EXIT, "dead-lettered") for k in keys
        }
        argv = ["--stack", session.stack, "--processor", "Keys", "--json"]
        code = main(["redrive", *argv, "--endpoint-url", session.endpoint])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        lines = [json.loads(line) for line in out.splitlines()]
        assert {(line["action"], line["key"], line["delivered_key"]) for line in lines} == {
            ("re-submitted", k, delivered_form(k)) for k in keys
        }
        assert session.adopt() == 3
        session.settle()
    rows = session.results()
    assert {(r.key, r.exit_code, r.environment["S3_KEY"]) for r in rows} == {
        (k, 0, k) for k in keys
    }
    assert all(r.outputs and r.outputs[0].startswith(f"out/{r.key}/") for r in rows)
