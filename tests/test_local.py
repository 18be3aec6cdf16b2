"""The whole flow on the emulator: `private-s3-processor local` and its library."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor_cli.local.ecs import worker_command
from private_s3_processor_cli.local.eventbridge import apply_input_transformer, overrides_problem
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.main import main
from private_s3_worker.exitcodes import ExitCode

from bench.local import VOLUME, volume_plan
from tests.conftest import ROOT, cli, quiet
from tests.golden import cases


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["local", *args])
    out, err = capsys.readouterr()
    return code, out, err


# Keys for the filter tests: the awkward characters S3 allows, around each filter.
WEIRD = [
    "inbound/a.csv",
    "inbound/sub dir/ü (1).csv",
    "inbound/a+b=c%20.csv",
    "inbound/a.CSV",
    "inbound/a.csv.txt",
    "inboundX/a.csv",
    "other/inbound/a.csv",
    "a.csv",
    "inbound/",
    "inbound/.csv",
    "inbound/no-suffix",
    "x.csv.csv",
    "inbound/it's (quoted).csv",
    "🙂/inbound.csv",
    "inbound/日本語.csv",
]

FILTERS = {
    "prefix_only": ("Inbound", "inbound/", ""),
    "suffix_only": ("Csv", "", ".csv"),
    "prefix_and_suffix": ("Invoices", "inbound/", ".csv"),
    "no_filter": ("Everything", "", ""),
}


@pytest.mark.parametrize("case", sorted(FILTERS))
def test_filters_end_to_end(
    case: str, emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    processor, prefix, suffix = FILTERS[case]
    body = tmp_path / "data.csv"
    body.write_text("a,b\n1,2\n")
    uploads = [f"--upload={body}={key}" for key in WEIRD]
    code, out, err = run_cli(
        str(cases.INPUT / f"{case}.yaml"),
        "--endpoint-url",
        emulator,
        "--json",
        *uploads,
        capsys=capsys,
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["key"] for r in rows] == WEIRD
    for row in rows:
        match = row["key"].startswith(prefix) and row["key"].endswith(suffix)
        if match:
            assert (row["processor"], row["exit_code"], row["status"]) == (
                processor,
                0,
                "processed",
            ), row
        else:
            assert (row["processor"], row["exit_code"], row["outputs"]) == (None, None, []), row


def test_a_key_with_a_quote_breaks_the_direct_input_and_lands_in_the_dlq(
    emulator: str, tmp_path: Path
) -> None:
    """EventBridge does not escape substituted values: like on AWS, the launch fails and
    the event goes to the dead-letter queue, with the error; nothing runs, nothing vanishes."""
    with deploy(emulator, cases.INPUT / "prefix_only.yaml", {}, quiet) as session:
        body = tmp_path / "q.csv"
        body.write_text("x\n")
        target = session.processors["Inbound"]
        for key in ['inbound/say "hi".csv', "inbound/back\\slash.csv"]:
            session.upload(body, key, target)
        session.settle()
    rows = session.results()
    assert [(r.status, r.exit_code) for r in rows] == [("dead-lettered", None)] * 2
    # A backslash that forms a valid JSON escape does not fail the input: the key arrives
    # altered (here a tab); the worker finds no version of it at all, fails, and the
    # failure rule dead-letters the upload (not "gone", which would count as done).
    with deploy(emulator, cases.INPUT / "prefix_only.yaml", {}, quiet) as session2:
        session2.upload(body, "inbound/tab\\t.csv", session2.processors["Inbound"])
        session2.settle()
    (altered,) = session2.results()
    assert (altered.exit_code, altered.outcome, altered.environment["S3_KEY"]) == (
        ExitCode.UNKNOWN_KEY,
        "dead-lettered",
        "inbound/tab\t.csv",
    )
    queue = target.dead_letter_queue
    messages = session.aws["sqs"].receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    keys = sorted(json.loads(m["Body"])["detail"]["object"]["key"] for m in messages)
    assert keys == sorted(['inbound/say "hi".csv', "inbound/back\\slash.csv"])
    for message in messages:
        attributes = message["MessageAttributes"]
        assert "invalid JSON" in attributes["ERROR_MESSAGE"]["StringValue"]
        assert attributes["RULE_ARN"]["StringValue"] == target.rule_arn
    tasks = session.aws["ecs"].list_tasks(cluster=target.cluster)["taskArns"]
    assert tasks == [] or all("Inbound" not in t for t in tasks)


def test_volume_three_processors_300_uploads(emulator: str, tmp_path: Path) -> None:
    """Every matching upload processed exactly once by the right processor, none of the
    others, no output re-triggers, and the counts add up."""
    template = tmp_path / "three.yaml"
    template.write_text(VOLUME)
    body = tmp_path / "body.txt"
    body.write_text("line\n")
    started = time.monotonic()
    with deploy(emulator, template, {}, quiet, concurrency=2) as session:
        # (processor's bucket, key, expected): bench/local.py times the same workload.
        plan = volume_plan(300)
        for name, key, _ in plan:
            session.upload(body, key, session.processors[name])
            session.dispatch()
        session.settle()
    elapsed = time.monotonic() - started
    rows = session.results()
    assert len(rows) == 300
    for (_name, key, expected), row in zip(plan, rows, strict=True):
        assert row.key == key and row.processor == expected, (row, expected)
        if expected:
            assert (row.exit_code, row.status, len(row.outputs)) == (0, "processed", 1), row
        else:
            assert row.exit_code is None and row.outputs == [], row
    assert session.retriggered == []
    s3 = session.aws["s3"]
    for name, prefix in (("Alpha", "out/"), ("Beta", "done/"), ("Gamma", "c-out/")):
        p = session.processors[name]
        listed = s3.list_objects_v2(Bucket=p.bucket, Prefix=prefix).get("Contents", [])
        expected_count = sum(1 for n, _, e in plan if n == name and e)
        assert len(listed) == expected_count, name  # one manifest per processed upload
    launched = session.aws["ecs"].list_tasks(cluster=session.processors["Alpha"].cluster)
    assert len(launched["taskArns"]) == sum(1 for *_, e in plan if e)
    print(f"\nvolume: 300 uploads, {sum(1 for *_, e in plan if e)} processed in {elapsed:.1f}s")


def test_worker_receives_exactly_what_the_transformer_produces(
    emulator: str, tmp_path: Path
) -> None:
    """The S3_* the worker saw equal the uploaded object's own attributes: a transformer
    written wrong in the template (a swapped path, a wrong name) fails this."""
    template = tmp_path / "three.yaml"
    template.write_text(VOLUME)
    body = tmp_path / "gamma.c"
    body.write_bytes(b"0123456789\n" * 7)
    with deploy(emulator, template, {}, quiet) as session:
        gamma = session.processors["Gamma"]
        session.upload(body, "c/Ürün (v2)+x.c", gamma)
        session.settle()
    (row,) = session.results()
    assert row.exit_code == 0, row
    manifest_key = row.outputs[-1]
    s3 = session.aws["s3"]
    received = json.loads(s3.get_object(Bucket=gamma.bucket, Key=manifest_key)["Body"].read())
    head = s3.head_object(Bucket=gamma.bucket, Key="c/Ürün (v2)+x.c")
    assert received["result"] == {
        "S3_BUCKET": gamma.bucket,
        "S3_KEY": "c/Ürün (v2)+x.c",
        "S3_SIZE": str(77),
        "S3_ETAG": head["ETag"].strip('"'),
        "S3_VERSION_ID": head["VersionId"],
    }
    assert row.overrides == json.loads(
        apply_input_transformer(
            gamma.target["InputTransformer"], _event(gamma.bucket, "c/Ürün (v2)+x.c", head)
        )
    )


def _event(bucket: str, key: str, head: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "tests" / "events" / "s3-object-created.json").read_text()
    )
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(
        key=key,
        size=head["ContentLength"],
        etag=head["ETag"].strip('"'),
        **{"version-id": head["VersionId"]},
    )
    return event


def test_input_transformer_semantics() -> None:
    transformer = {
        "InputPathsMap": {
            "k": "$.detail.object.key",
            "n": "$.detail.object.size",
            "gone": "$.detail.nothing",
        },
        "InputTemplate": '{"k": "<k>", "n": "<n>", "g": "<gone>"}',
    }
    event = {"detail": {"object": {"key": 'a "b"', "size": 3}}}
    text = apply_input_transformer(transformer, event)
    assert text == '{"k": "a "b"", "n": "3", "g": "<gone>"}'  # raw, unescaped, as documented
    assert overrides_problem(text)[1] is not None
    assert overrides_problem('{"containerOverrides": []}') == (
        {"containerOverrides": []},
        None,
    )
    assert "8192" in str(overrides_problem('"' + "x" * 9000 + '"')[1])


def test_test_mode_runs_the_test_command(emulator: str, tmp_path: Path) -> None:
    with deploy(emulator, cases.INPUT / "test_mode.yaml", {}, quiet) as session:
        body = tmp_path / "t.csv"
        body.write_text("x\n")
        session.upload(body, "incoming/t.csv", session.processors["Trial"])
        session.settle()
    (row,) = session.results()
    assert (row.exit_code, row.status) == (0, "exited")
    assert worker_command(session.processors["Trial"])[:2] == ["sh", "-c"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests/golden/input/no-such.yaml"], "not found"),
        (["tests/events/macro-request.json"], "has no resource of Type: PrivateS3Processor"),
        (["tests/golden/input/error_cpu_memory.yaml"], "property 'Memory' must be one of"),
        (["tests/golden/input/two_processors.yaml", "--upload", "README.md"], "several processors"),
        (["tests/golden/input/defaults.yaml", "--upload", "no/such/file"], "does not exist"),
        # moto cannot store a key with a line feed (its S3 routes stop there): said plainly,
        # before anything runs, not an "internal error" from a 404 on PutObject.
        (
            ["tests/golden/input/defaults.yaml", "--upload", "README.md=in/a\nb.csv"],
            'key "in/a\\nb.csv" holds a line feed, which the emulator (moto) cannot store',
        ),
    ],
)
def test_clear_errors(
    emulator: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(*args, "--endpoint-url", emulator, capsys=capsys)
    assert code == 1 and out == ""
    assert message in err, err


def test_an_endpoint_with_no_emulator_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        "tests/golden/input/defaults.yaml", "--endpoint-url", "http://localhost:9", capsys=capsys
    )
    assert code == 1 and "no moto server answers at http://localhost:9" in err


def test_command_line_table_and_keep_running_endpoint(tmp_path: Path) -> None:
    """As a user runs it: its own emulator, the table on stdout, progress on stderr."""
    run = cli(
        "local",
        str(cases.INPUT / "prefix_and_suffix.yaml"),
        "--upload",
        f"{ROOT / 'examples' / 'samples'}",
    )
    assert run.returncode == 0, run.stderr
    assert "emulator at http://localhost:" in run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["key", "processor", "exit", "outputs", "duration", "status"]
    assert "4 uploads, 2 matched a processor, 2 processed (exit 0)" in run.stdout


def test_watch_uploads_new_files_until_interrupted(emulator: str, tmp_path: Path) -> None:
    import signal

    folder = tmp_path / "drop"
    (folder / "inbound").mkdir(parents=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "private_s3_processor_cli",
            "local",
            str(cases.INPUT / "prefix_only.yaml"),
            "--endpoint-url",
            emulator,
            "--watch",
            str(folder),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "watching" in line:
            break
    (folder / "inbound" / "late.csv").write_text("a\n1\n")
    (folder / "skipped.txt").write_text("not under inbound/\n")
    # Both files picked up, and the worker done: on busy cores the watcher's next scan
    # can come after the worker has exited, so one line alone does not say both are in.
    waiting = {"uploaded skipped.txt", "worker exited"}
    for line in proc.stderr:
        waiting = {w for w in waiting if w not in line}
        if not waiting:
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    rows = {r["key"]: r for r in map(json.loads, out.splitlines())}
    assert proc.returncode == 0
    assert rows["inbound/late.csv"]["exit_code"] == 0
    assert rows["skipped.txt"]["processor"] is None


FAILING = """
Transform: PrivateS3Processor
Resources:
  Fragile:
    Type: PrivateS3Processor
    Properties: {Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1, Prefix: in/,
                 OutputPrefix: out/,
                 Environment: {PROCESSOR: "tests.worker_processors:explode"}}
"""


def test_a_failed_task_lands_in_the_dead_letter_queue(emulator: str, tmp_path: Path) -> None:
    """EventBridge counts the launch as delivered; the failure rule on ECS's task-stopped
    event is what keeps the failure from living only in the logs."""
    template = tmp_path / "fragile.yaml"
    template.write_text(FAILING)
    body = tmp_path / "f.txt"
    body.write_text("0123456789abcdef\n")
    with deploy(emulator, template, {}, quiet) as session:
        fragile = session.processors["Fragile"]
        session.upload(body, "in/f.txt", fragile)
        session.upload(body, "elsewhere/f.txt", fragile)
        session.settle()
    failed, ignored = session.results()
    assert (failed.exit_code, failed.status) == (70, "failed, dead-lettered")
    assert ignored.processor is None
    messages = session.aws["sqs"].receive_message(
        QueueUrl=fragile.dead_letter_queue, MaxNumberOfMessages=10
    )["Messages"]
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["detail"]["containers"][0]["exitCode"] == 70
    environment = event["detail"]["overrides"]["containerOverrides"][0]["environment"]
    assert {"name": "S3_KEY", "value": "in/f.txt"} in environment
