"""Nothing lost: the two delivery modes under launch faults, keys EventBridge cannot
carry, and ``redrive``, on the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor_cli.local.emulator import CREDENTIALS, REGION
from private_s3_processor_cli.local.launches import LaunchFaults
from private_s3_processor_cli.local.session import Session, deploy
from private_s3_processor_cli.main import main
from private_s3_processor_cli.redrive import recorded_event

from bench.delivery import scenario
from tests.conftest import load_event, quiet

FLAKY = """
Transform: PrivateS3Processor
Resources:
  Flaky:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
      OutputPrefix: out/
      Delivery: {delivery}
      Environment:
        PROCESSOR: tests.worker_processors:fails_while_marked
        FLAKY_MARKER: {marker}
"""


def flaky(tmp_path: Path, delivery: str) -> tuple[Path, Path]:
    marker = tmp_path / "outage"
    marker.write_text("on\n")
    template = tmp_path / f"flaky-{delivery}.yaml"
    template.write_text(FLAKY.format(delivery=delivery, marker=marker))
    return template, marker


def messages(session: Session, queue: str) -> list[dict[str, Any]]:
    """Every message in ``queue``, left visible again for later readers."""
    sqs = session.aws["sqs"]
    found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=30)
    got = found.get("Messages", [])
    for m in got:
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    return got


def redrive_cli(
    session: Session, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(
        [
            "redrive",
            "--stack",
            session.stack,
            "--endpoint-url",
            session.endpoint,
            "--region",
            REGION,
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


# --- the load test -------------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["Orchestrated", "Direct"])
def test_1000_uploads_with_failing_launches(emulator: str, tmp_path: Path, delivery: str) -> None:
    """30 % of launch attempts answer failures[], 30 % are throttled (seeded)."""
    r = scenario(emulator, delivery, tmp_path, uploads=1000, failures=0.3, throttling=0.3)
    assert sum(r.first.values()) == 1000
    assert r.attempts["failures"] > 200 and r.attempts["throttling"] > 200
    if delivery == "Orchestrated":
        # Every upload processed or dead-lettered with its reason; redrive finishes the rest.
        assert set(r.first) <= {"processed", "dead-lettered"}
        assert r.first["dead-lettered"] > 0  # the scenario does reach the dead-letter queue
        assert r.resubmitted == r.first["dead-lettered"]
        assert r.after == {"processed": 1000}
        assert r.runs == 1000  # each upload's worker ran exactly once
        assert r.attempts["launched"] == r.first["processed"]  # first pass: one launch each
    else:
        # Throttling is retried by EventBridge; each failures[] answer loses an upload with
        # no record anywhere, so redrive has nothing to re-submit.
        assert r.first["lost"] == r.attempts["failures"] > 0
        assert r.first["processed"] == r.attempts["launched"] == r.runs
        assert r.first["processed"] + r.first["lost"] == 1000
        assert r.resubmitted == 0
        assert r.after == r.first


# --- keys EventBridge cannot carry --------------------------------------------------------

AWKWARD = ['in/say "hi".csv', "in/back\\slash.csv", "in/tab\\t.csv"]


def test_orchestrated_carries_keys_the_direct_input_template_cannot(
    emulator: str, tmp_path: Path
) -> None:
    template = tmp_path / "o.yaml"
    template.write_text(
        FLAKY.format(delivery="Orchestrated", marker=tmp_path / "none").replace(
            "fails_while_marked", "upper"
        )
    )
    body = tmp_path / "q.csv"
    body.write_text("x\n")
    with deploy(emulator, template, {}, quiet) as session:
        for key in AWKWARD:
            session.upload(body, key, session.processors["Flaky"])
        session.settle()
    rows = session.results()
    assert [(r.exit_code, r.outcome) for r in rows] == [(0, "processed")] * 3
    assert [r.environment["S3_KEY"] for r in rows] == AWKWARD
    for row in rows:
        assert row.outputs and all(o.startswith(f"out/{row.key}/") for o in row.outputs)


def test_direct_dead_letters_them_and_redrive_carries_them(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    template, marker = flaky(tmp_path, "Direct")
    marker.unlink()
    body = tmp_path / "q.csv"
    body.write_text("x\n")
    with deploy(emulator, template, {}, quiet) as session:
        p = session.processors["Flaky"]
        for key in AWKWARD[:2]:
            session.upload(body, key, p)
        session.settle()
        assert [r.outcome for r in session.results()] == ["dead-lettered"] * 2
        code, out, err = redrive_cli(session, capsys, "--processor", "Flaky")
        assert code == 0, out + err
        assert "re-submitted 2, kept 0" in err
        assert session.adopt() == 2
        session.settle()
        assert messages(session, p.dead_letter_queue) == []
    rows = session.results()
    # Built as JSON by redrive, the overrides carry the key exactly.
    assert [(r.exit_code, r.environment["S3_KEY"]) for r in rows] == [(0, k) for k in AWKWARD[:2]]


# --- failures and redrive --------------------------------------------------------------


def test_orchestrated_dead_letters_a_failed_task_with_the_reason_then_redrive(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    template, marker = flaky(tmp_path, "Orchestrated")
    body = tmp_path / "f.csv"
    body.write_text("a\n")
    with deploy(emulator, template, {}, quiet) as session:
        p = session.processors["Flaky"]
        session.upload(body, "in/one.csv", p)
        session.upload(body, "in/two.csv", p)
        session.settle()
        assert [(r.exit_code, r.outcome) for r in session.results()] == [(70, "dead-lettered")] * 2
        held = messages(session, p.dead_letter_queue)
        assert len(held) == 2
        letter = json.loads(held[0]["Body"])
        assert letter["processor"] == "Flaky" and letter["error"] == "States.TaskFailed"
        assert json.loads(letter["cause"])["Containers"][0]["ExitCode"] == 70
        assert letter["event"]["detail"]["object"]["key"] in ("in/one.csv", "in/two.csv")

        code, out, err = redrive_cli(session, capsys, "--processor", "Flaky", "--dry-run")
        assert code == 0, err
        assert out.count("would re-submit") == 2 and "would re-submit 2, kept 0" in err
        assert len(messages(session, p.dead_letter_queue)) == 2  # nothing deleted
        assert session.adopt() == 0  # nothing started

        marker.unlink()  # the outage is over
        code, out, err = redrive_cli(session, capsys, "--processor", "Flaky", "--json")
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert [line["action"] for line in lines] == ["re-submitted"] * 2
        assert all(":execution:" in line["started"] for line in lines)
        assert session.adopt() == 2
        session.settle()
        assert messages(session, p.dead_letter_queue) == []
    assert [(r.exit_code, r.outcome, r.runs) for r in session.results()] == [
        (0, "processed", 2)
    ] * 2


def test_direct_failed_task_redrive(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    template, marker = flaky(tmp_path, "Direct")
    body = tmp_path / "f.csv"
    body.write_text("a\n")
    with deploy(emulator, template, {}, quiet) as session:
        p = session.processors["Flaky"]
        session.upload(body, "in/one.csv", p)
        session.settle()
        assert session.results()[0].outcome == "dead-lettered"
        (message,) = messages(session, p.dead_letter_queue)
        assert json.loads(message["Body"])["detail-type"] == "ECS Task State Change"
        marker.unlink()
        code, out, err = redrive_cli(session, capsys, "--processor", "Flaky")
        assert code == 0, err
        assert out.startswith("re-submitted s3://")
        assert session.adopt() == 1
        session.settle()
        assert messages(session, p.dead_letter_queue) == []
    (row,) = session.results()
    assert (row.exit_code, row.outcome, row.runs) == (0, "processed", 2)


def test_redrive_keeps_what_it_cannot_read_and_says_so(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    template, _ = flaky(tmp_path, "Orchestrated")
    with deploy(emulator, template, {}, quiet) as session:
        p = session.processors["Flaky"]
        session.aws["sqs"].send_message(QueueUrl=p.dead_letter_queue, MessageBody="not json")
        code, out, err = redrive_cli(session, capsys, "--processor", "Flaky")
        assert code == 1
        assert "kept message" in out and "not JSON" in out and "kept 1" in err
        assert len(messages(session, p.dead_letter_queue)) == 1  # still there, visible

        code, out, err = redrive_cli(session, capsys, "--processor", "Nope")
        assert code == 1 and "has no processor 'Nope'; its processors: Flaky" in err
    code = main(
        ["redrive", "--stack", "no-such-stack", "--processor", "X", "--endpoint-url", emulator]
    )
    assert code == 1
    assert "no-such-stack" in capsys.readouterr().err


# --- units --------------------------------------------------------------------------------


def test_recorded_event_reads_the_three_kinds_of_message() -> None:
    event = load_event("s3-object-created.json")
    assert recorded_event(json.dumps(event)) == event
    assert recorded_event(json.dumps({"event": event, "error": "X"})) == event
    task_event = {
        "detail-type": "ECS Task State Change",
        "detail": {
            "overrides": {
                "containerOverrides": [
                    {
                        "name": "worker",
                        "environment": [
                            {"name": "S3_BUCKET", "value": "b"},
                            {"name": "S3_KEY", "value": 'a "b".csv'},
                            {"name": "S3_SIZE", "value": "12"},
                        ],
                    }
                ]
            }
        },
    }
    rebuilt = recorded_event(json.dumps(task_event))
    assert rebuilt["detail"] == {
        "bucket": {"name": "b"},
        "object": {"key": 'a "b".csv', "size": 12},
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"detail-type": "Something"}', "neither"),
        ('{"detail-type": "Object Created", "detail": {"bucket": {}}}', "no bucket name"),
    ],
)
def test_recorded_event_refuses_other_messages(body: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        recorded_event(body)


@pytest.mark.parametrize(("failures", "throttling"), [(-0.1, 0), (0, 1.5), (0.6, 0.6)])
def test_fault_shares_are_checked(failures: float, throttling: float) -> None:
    with pytest.raises(ValueError, match=r"share|add up"):
        LaunchFaults(failures, throttling)


def test_fault_draws_follow_the_seed() -> None:
    a, b = LaunchFaults(0.3, 0.3, seed=5), LaunchFaults(0.3, 0.3, seed=5)
    assert [a.draw() for _ in range(200)] == [b.draw() for _ in range(200)]
    assert 30 < a.drawn["failures"] < 90 and 30 < a.drawn["throttling"] < 90
