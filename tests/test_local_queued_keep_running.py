"""``Delivery: Queued`` under ``local --keep-running``: ``redrive`` typed in a second
shell while the service has scaled to zero, and a message typed into the queue by hand
that is no upload's event. The processor, the shell and what is checked are those of
``tests/test_local_queued_signals.py``."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests import test_local_loop
from tests.conftest import ROOT
from tests.test_local_loop import WAIT_S, Shell, gone
from tests.test_local_queued_signals import (
    MAX_RECEIVES,
    Job,
    bodies,
    client,
    depth,
    manifests,
    pids,
    resources,
    stack_of,
)

marker = test_local_loop.marker  # the fixture: each test's processes, killed if left


def no_worker_left(marker: str, local: Shell) -> None:
    """Until the service has no worker process (scaled in to zero)."""
    deadline = time.monotonic() + WAIT_S
    while pids(marker, "private_s3_worker"):
        assert local.proc.poll() is None and time.monotonic() < deadline, "".join(local.err)
        time.sleep(0.1)


def until_empty(sqs: Any, queue: str) -> None:
    """Until the queue holds nothing, visible or in flight."""
    deadline = time.monotonic() + WAIT_S
    while depth(sqs, queue) != (0, 0):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def keep_running(job: Job) -> tuple[Shell, str, dict[str, str]]:
    """`local --keep-running` of the job's uploads, once it serves: the shell, the
    redrive command it printed (if any) and the stack's resources."""
    local = Shell(
        f"private-s3-processor local {job.template} --keep-running "
        f"--upload {job.uploads}=in --time-scale 0.01",
        job.env,
        group=True,
    )
    endpoint, stack = stack_of(local.until(", region "))
    return local, endpoint, resources(endpoint, stack)


def test_keep_running_runs_what_redrive_puts_back(tmp_path: Path, marker: str) -> None:
    """The README's loop with Queued: an upload the processor fails on reaches the
    dead-letter queue after MaxReceiveCount receives; the service scales in to zero;
    with the processor fixed, `redrive` typed in a second shell puts the event back on
    the queue, the scaler wakes, a new worker processes it, and Ctrl-C ends with 0 and
    the row processed (redriven)."""
    job = Job(tmp_path, marker)
    (job.state / "broken").touch()
    (job.uploads / "good.txt").write_text("fine\n")
    (job.uploads / "bad.txt").write_text("POISON\n")
    local, endpoint, physical = keep_running(job)
    printed = local.until("private-s3-processor redrive ").strip()
    sqs = client(endpoint, "sqs")
    queue, dlq, bucket = (physical[f"Jobs{n}"] for n in ("Queue", "DeadLetterQueue", "Bucket"))
    (dead,) = bodies(sqs, dlq)
    assert json.loads(dead["Body"])["detail"]["object"]["key"] == "in/bad.txt"
    assert depth(sqs, queue) == (0, 0)
    assert set(manifests(endpoint, bucket)) == {"in/good.txt"}
    assert job.started() == {"in_good.txt", "in_bad.txt"}
    local.until("IdleAlarm is ALARM; desired count 0")
    no_worker_left(marker, local)  # the service is at zero: redrive must wake it

    (job.state / "broken").unlink()  # the processor is fixed
    second = subprocess.run(
        ["bash", "-c", printed],
        cwd=ROOT,
        env=job.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=WAIT_S,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("re-submitted s3://") and "in/bad.txt" in second.stdout
    assert depth(sqs, dlq) == (0, 0)

    local.until("in/bad.txt: redriven, processed")
    assert set(manifests(endpoint, bucket)) == {"in/good.txt", "in/bad.txt"}
    until_empty(sqs, queue)  # the worker deleted the message
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 0, err
    assert "Traceback" not in err
    (row,) = [line for line in out.splitlines() if line.startswith("in/bad.txt ")]
    assert row.split()[-2:] == ["processed", "(redriven)"], out
    assert "2 uploads, 2 matched a processor, 2 processed (exit 0), 1 redriven" in out
    assert gone(marker) == []


# What a hand typed: not JSON at all; and JSON shaped like the event's detail, without
# the detail-type the worker requires (its body names a bucket and a key all the same).
JUNK = [
    "this is not JSON\n{",
    json.dumps({"detail": {"bucket": {"name": "b"}, "object": {"key": "in/fine.txt"}}}),
]


def test_junk_messages_are_dead_lettered_and_said_once(tmp_path: Path, marker: str) -> None:
    """Messages typed into the processor's queue by hand that are no upload's event:
    the service's workers fail them, the redrive policy moves them to the dead-letter
    queue after MaxReceiveCount receives, `local` says so, one line at the first failure
    and one at the end, keeps serving, and the uploads' status stays 0."""
    job = Job(tmp_path, marker)
    (job.uploads / "fine.txt").write_text("fine\n")
    local, endpoint, physical = keep_running(job)
    sqs = client(endpoint, "sqs")
    queue, dlq = physical["JobsQueue"], physical["JobsDeadLetterQueue"]
    sent = {sqs.send_message(QueueUrl=queue, MessageBody=b)["MessageId"]: b for b in JUNK}
    for message_id in sent:
        said = local.until(f"message {message_id}")
        assert "is not an upload's event" in said and "dead-lettered" not in said, said
    for message_id in sent:
        said = local.until(f"message {message_id}")
        assert f"dead-lettered after {MAX_RECEIVES} receives" in said, said
    assert {m["MessageId"]: m["Body"] for m in bodies(sqs, dlq)} == sent
    assert depth(sqs, queue) == (0, 0)
    assert local.proc.poll() is None  # still serving
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 0, err
    assert "Traceback" not in err
    for message_id in sent:
        assert len([line for line in err.splitlines() if message_id in line]) == 2, err
    assert "2 messages that were no upload's event dead-lettered" in err + out
    rows = [line.split() for line in out.splitlines() if line.startswith("in/")]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("in/fine.txt", "Jobs", "processed")], out
    assert gone(marker) == []
