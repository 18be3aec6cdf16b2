"""``Delivery: Queued`` through ``private-s3-processor local``: the queue, its redrive
policy and the workers are real (the emulator's SQS, worker processes in queue mode),
the scaling is the deployed policy's, on the simulated clock; and the simulated
account's quota, which every mode meets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.main import main
from private_s3_processor_cli.quota import QuotaLimits
from private_s3_worker import Outputs, SourceObject

from tests.conftest import cli, quiet

MAX_RECEIVES = 3
TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Jobs:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
      OutputPrefix: out/
      Delivery: {delivery}{receives}
      Environment:
        PROCESSOR: tests.test_local_queued:fails_on_poison
"""


def fails_on_poison(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """The worker's processor in these tests: raises for a key holding "poison"."""
    body = source.body.read()
    if "poison" in source.key:
        raise RuntimeError("this object poisons the processor")
    outputs.put("copy.txt", body.upper(), "text/plain")
    return {"bytes": len(body)}


def template(tmp_path: Path, delivery: str = "Queued") -> Path:
    path = tmp_path / f"{delivery.lower()}.yaml"
    receives = f"\n      MaxReceiveCount: {MAX_RECEIVES}" if delivery == "Queued" else ""
    path.write_text(TEMPLATE.format(delivery=delivery, receives=receives))
    return path


def test_queued_end_to_end_as_typed(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "poison.txt"):
        (uploads / name).write_text(f"{name}\n")
    run = cli(
        "local",
        str(template(tmp_path)),
        "--upload",
        f"{uploads}=in",
        "--time-scale",
        "0.01",
        "--json",
        timeout=600,
    )
    assert run.returncode == 2, run.stderr  # one upload dead-lettered
    rows = {r["key"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(rows) == {"in/a.txt", "in/b.txt", "in/c.txt", "in/poison.txt"}
    for key in ("in/a.txt", "in/b.txt", "in/c.txt"):
        row = rows[key]
        assert (row["outcome"], row["status"], row["exit_code"]) == ("processed", "processed", 0)
        assert sorted(o.rsplit("/", 1)[-1] for o in row["outputs"]) == [
            "copy.txt",
            "manifest.json",
        ]
    poison = rows["in/poison.txt"]
    assert poison["outcome"] == "dead-lettered", poison
    # The redrive policy moved it after MaxReceiveCount receives. Most receives ran and
    # failed; a receive that a scale-in SIGTERM released at once (the worker was stopping
    # as the long poll returned) also counts, since SQS counts receives, not failures, so
    # the runs may be fewer (README "#### Queued", "Failures").
    assert 1 <= poison["runs"] <= MAX_RECEIVES
    assert "this object poisons the processor" in poison["status"]
    err = run.stderr
    # The scaler started from zero with the steps it read back from the emulator ...
    steps = re.search(r"scaling from 0 tasks, as deployed: .*?\(ExactCapacity\) (.*?);", err)
    assert steps, err
    deployed = {int(n) for n in re.findall(r"->(\d+)", steps[1])}
    assert deployed == {1, 2, 4, 8, 10}  # the default MaxTasks 10, powers of two below it
    # ... and each desired count it logged is one of those steps (or 0 after idling).
    desired = [int(n) for n in re.findall(r"BacklogAlarm is ALARM; desired count (\d+)", err)]
    assert desired and desired[0] > 0 and set(desired) <= deployed, err
    note = re.search(
        r"Jobs: (\d+) task\(s\) ran.*protection set (\d+) times.*exit ([\d, -]+);", err
    )
    assert note, err
    assert int(note[2]) >= 1  # the agent endpoint recorded the workers' protection
    assert note[3] == "0"  # every worker exited 0 after SIGTERM


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--launch-burst", "0", "must be a number above 0 (got 0)"),
        ("--launch-burst", "2.5", "'2.5' is not a whole number"),
        ("--launch-rate", "-1", "must be a number above 0 (got -1)"),
        ("--launch-rate", "inf", "must be a number above 0 (got inf)"),
        ("--vcpu-quota", "many", "'many' is not a number"),
        ("--vcpu-quota", "nan", "must be a number above 0 (got nan)"),
        ("--time-scale", "0", "must be a number above 0 (got 0)"),
    ],
)
def test_quota_flags_are_validated(
    flag: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["local", "x.yaml", flag, value])
    assert stopped.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and f"argument {flag}: {said}" in err, err


def test_quota_flags_reach_the_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Accepted flags become the session's limits (a missing template stops the run
    after parsing, with its one line)."""
    code = main(["local", str(tmp_path / "none.yaml"), "--launch-burst", "3", "--vcpu-quota", "1"])
    assert code == 1
    assert "not found" in capsys.readouterr().err


def test_the_quota_throttles_direct_launches(emulator: str, tmp_path: Path) -> None:
    """A burst beyond the token bucket: launches are throttled (ThrottlingException, as
    Fargate's launch rate answers), EventBridge retries them, and all are processed."""
    body = tmp_path / "x.txt"
    body.write_text("x\n")
    # 2 tokens, then one every 2 real seconds (0.005 per simulated second at 0.01).
    limits = QuotaLimits(launch_burst=2, launch_rate=0.005)
    with deploy(
        emulator, template(tmp_path, "Direct"), {}, quiet, 4, time_scale=0.01, limits=limits
    ) as session:
        target = session.processors["Jobs"]
        for i in range(5):
            session.upload(body, f"in/{i}.txt", target)
        session.dispatch(wait_s=2)  # the five events at once: a burst of five launches
        session.settle()
    rows = session.results()
    assert [r.outcome for r in rows] == ["processed"] * 5
    counts = session.ecs.quota.counts
    assert counts["launched"] == 5
    assert counts["throttled"] >= 1, counts
    assert sum(r.launch_attempts for r in rows) == 5 + counts["throttled"]


def test_a_task_larger_than_the_vcpu_quota_is_refused_before_uploading(tmp_path: Path) -> None:
    """No task of 0.25 vCPU fits a quota of 0.1: said in one line, not found out as a
    queue that never drains (it waited forever before)."""
    body = tmp_path / "x.txt"
    body.write_text("x\n")
    run = cli(
        "local",
        str(template(tmp_path)),
        "--upload",
        f"{body}=in/x.txt",
        "--vcpu-quota",
        "0.1",
        "--time-scale",
        "0.01",
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]
    assert "--vcpu-quota 0.1 is smaller than one task of Jobs (0.25 vCPU)" in last, run.stderr
    assert "Traceback" not in run.stderr


def test_a_queue_no_task_can_serve_ends_the_run_not_processed(tmp_path: Path) -> None:
    """Every launch refused (a launch fault that never lifts): the service keeps trying
    for ten simulated minutes, then the run ends with the upload not processed, exit 2,
    and says why (it waited forever before)."""
    body = tmp_path / "x.txt"
    body.write_text("x\n")
    run = cli(
        "local",
        str(template(tmp_path)),
        "--upload",
        f"{body}=in/x.txt",
        "--fail-launches",
        "1",
        "--time-scale",
        "0.01",
        "--json",
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    (row,) = map(json.loads, run.stdout.splitlines())
    assert row["outcome"] == "lost" and row["exit_code"] is None, row
    assert row["status"].startswith("not processed: still in the queue; no task could launch")
    assert "Jobs: a task could not launch (failures" in run.stderr


def test_the_readme_queued_command_as_typed() -> None:
    """README "#### Locally": the Queued example, with the command exactly as written."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Locally", 1)[1].split("\n### ", 1)[0]
    found = re.search(r"`(private-s3-processor local\s+examples/queued\.yaml[^`]*)`", section)
    assert found, "the README no longer shows the Queued example's command"
    command = found[1].split()
    assert command[:2] == ["private-s3-processor", "local"]
    run = cli(*command[1:], "--json", timeout=300)
    assert run.returncode == 0, run.stderr
    rows = {r["key"]: r for r in map(json.loads, run.stdout.splitlines())}
    processed = {k for k, r in rows.items() if r["outcome"] == "processed"}
    assert processed == {"inbound/2026-03-invoices.csv", "inbound/Überweisung März 2026.csv"}
    assert "scale-in protection set" in run.stderr and "exit 0;" in run.stderr
