"""``Delivery: Queued`` under ``local`` as a user stops it: Ctrl-C while the service's
workers are busy, once (the queue drains) or twice (everything ends at once); and the
shared parts of ``tests/test_local_queued_keep_running.py``.

Each ``local`` is a process of its own (``tests/test_local_loop.py``'s ``Shell``), its
children found by the environment marker they inherit. The worker runs a processor
written into the test's folder: it records each object it starts in that folder, sleeps
as long as the folder's ``sleep`` file says, and fails an object whose body holds
``POISON`` while the folder holds ``broken``. What each test checks is what happened:
the processes, the queues and the outputs in the emulator, not only what was printed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from private_s3_processor_cli.local.emulator import REGION

from tests import test_local_loop
from tests.conftest import ROOT
from tests.test_local_loop import WAIT_S, Shell, gone, marked, user_env

marker = test_local_loop.marker  # the fixture: each test's processes, killed if left

MAX_RECEIVES = 2
TEMPLATE = """
Transform: PrivateS3Processor
Resources:
  Jobs:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1
      Prefix: in/
      OutputPrefix: out/
      Delivery: Queued
      MaxReceiveCount: {receives}
      Environment:
        PROCESSOR: queued_signals_processor:process
"""
PROCESSOR = '''
"""The processor of tests/test_local_queued_signals.py (written by the test)."""
import pathlib
import time

STATE = pathlib.Path({state!r})


def process(source, outputs):
    body = source.body.read()
    (STATE / "started" / source.key.replace("/", "_")).touch()
    if b"POISON" in body and (STATE / "broken").exists():
        raise RuntimeError("poisoned while broken")
    sleep = STATE / "sleep"
    time.sleep(float(sleep.read_text()) if sleep.exists() else 0)
    outputs.put("copy.txt", body, "text/plain")
    return {{"bytes": len(body)}}
'''


class Job:
    """One test's template, processor and state folder, and its shell's environment."""

    def __init__(self, tmp_path: Path, marker: str, sleep_s: float = 0) -> None:
        self.state = tmp_path / "state"
        (self.state / "started").mkdir(parents=True)
        (self.state / "sleep").write_text(str(sleep_s))
        code = tmp_path / "code"
        code.mkdir()
        (code / "queued_signals_processor.py").write_text(PROCESSOR.format(state=str(self.state)))
        self.template = tmp_path / "queued.yaml"
        self.template.write_text(TEMPLATE.format(receives=MAX_RECEIVES))
        self.env = user_env(tmp_path, marker)
        # The workers inherit `local`'s environment, as they inherit the marker.
        self.env["PYTHONPATH"] = str(code)
        self.uploads = tmp_path / "uploads"
        self.uploads.mkdir()

    def started(self) -> set[str]:
        return {p.name for p in (self.state / "started").iterdir()}

    def wait_started(self, local: Shell) -> None:
        """Until the processor has begun on an object (the shell must still run)."""
        deadline = time.monotonic() + WAIT_S
        while not self.started():
            assert local.proc.poll() is None and time.monotonic() < deadline, "".join(local.err)
            time.sleep(0.05)


def pids(marker: str, name: str) -> set[int]:
    """The marked processes whose command line holds ``name``."""
    return {int(line.split()[0]) for line in marked(marker) if name in line}


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def client(endpoint: str, service: str) -> Any:
    make: Any = boto3.client  # one call for every service
    return make(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def resources(endpoint: str, stack: str) -> dict[str, str]:
    """Logical ID -> physical ID of the stack's resources in the emulator."""
    cfn = client(endpoint, "cloudformation")
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for page in pages
        for r in page["StackResourceSummaries"]
    }


def depth(sqs: Any, queue: str) -> tuple[int, int]:
    """(visible, in flight) of a queue."""
    answer = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(answer["ApproximateNumberOfMessages"]), int(
        answer["ApproximateNumberOfMessagesNotVisible"]
    )


def bodies(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message of a queue (body, ID); each made visible again at once."""
    seen: dict[str, dict[str, Any]] = {}
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
    ).get("Messages"):
        seen.update({m["MessageId"]: m for m in batch if m["MessageId"] not in seen})
    for m in seen.values():
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    return list(seen.values())


def outputs_of(endpoint: str, bucket: str) -> set[str]:
    s3 = client(endpoint, "s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def manifests(endpoint: str, bucket: str) -> dict[str, dict[str, Any]]:
    """The worker's manifests in the bucket, by the key of the object each describes."""
    s3 = client(endpoint, "s3")
    found = {}
    for key in outputs_of(endpoint, bucket):
        if key.endswith("/manifest.json"):
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            found[manifest["source"]["key"]] = manifest
    return found


def stack_of(line: str) -> tuple[str, str]:
    """(endpoint, stack) from `local`'s "emulator at …, stack …" line."""
    found = re.search(r"emulator at (http://localhost:\d+), region \S+, stack (\S+)", line)
    assert found, line
    return found[1], found[2]


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_during_the_uploads_drains_the_queue(
    emulator: str, tmp_path: Path, marker: str
) -> None:
    """A terminal's Ctrl-C while `local` uploads and the service's workers are busy: the
    uploads made so far are processed (their outputs are in the bucket, the queue is
    empty), every worker ends after its SIGTERM, none is left running, and the status
    is 130 (not every upload was made)."""
    job = Job(tmp_path, marker, sleep_s=1.5)
    for i in range(60):
        (job.uploads / f"{i:02d}.txt").write_text(f"object {i}\n")
    local = Shell(
        f"private-s3-processor local {job.template} --upload {job.uploads}=in "
        f"--time-scale 0.01 --endpoint-url {emulator} --json",
        job.env,
        group=True,
    )
    local.until("uploaded in/")
    local.signal(signal.SIGINT, group=True)
    job.wait_started(local)  # the first task works on the queue after the Ctrl-C
    workers = pids(marker, "private_s3_worker")
    assert workers, marked(marker)
    code, out, err = local.finish()
    assert code == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    made = re.search(r"stopped by SIGINT after (\d+) of 60 uploads", err)
    assert made, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert 1 <= len(rows) == int(made[1]) < 60
    assert {r["outcome"] for r in rows} == {"processed"}, rows
    # What happened in the emulator, which outlives the run.
    endpoint, stack = emulator, re.findall(r"stack (private-s3-local-\d+)", err)[0]
    physical = resources(endpoint, stack)
    sqs = client(endpoint, "sqs")
    assert depth(sqs, physical["JobsQueue"]) == (0, 0)
    assert depth(sqs, physical["JobsDeadLetterQueue"]) == (0, 0)
    written = outputs_of(endpoint, physical["JobsBucket"])
    assert written == {o for r in rows for o in r["outputs"]}  # no other object ran
    made_keys = {r["key"] for r in rows}
    assert set(manifests(endpoint, physical["JobsBucket"])) == made_keys
    note = re.search(
        r"Jobs: (\d+) task\(s\) ran.*stopped with SIGTERM at the end, exit (\S+);", err
    )
    assert note and note[2] == "0", err  # every worker exited 0 after its SIGTERM
    assert not [pid for pid in workers if alive(pid)]
    assert gone(marker) == []


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path, marker: str) -> None:
    """The first Ctrl-C waits for the work in flight (here a processor that sleeps ten
    minutes); the second ends `local`, the service's worker and the emulator at once:
    a queue-mode worker given SIGTERM would finish its object first."""
    job = Job(tmp_path, marker, sleep_s=600)
    (job.uploads / "slow.txt").write_text("slow\n")
    local = Shell(
        f"private-s3-processor local {job.template} --upload {job.uploads}=in --time-scale 0.01",
        job.env,
        group=True,
    )
    job.wait_started(local)
    workers = pids(marker, "private_s3_worker")
    moto = pids(marker, "moto_server")
    assert workers and moto, marked(marker)
    local.signal(signal.SIGINT, group=True)
    local.until("stopping (SIGINT)")
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 128 + signal.SIGINT, err
    assert "stopped at once by a second signal" in err and out == ""
    assert gone(marker) == []
    assert not [pid for pid in workers | moto if alive(pid)]


def test_ctrl_c_after_the_uploads_ends_with_their_outcome(
    emulator: str, tmp_path: Path, marker: str
) -> None:
    """Ctrl-C once every upload was made: the queue drains (a poisoned upload through
    its MaxReceiveCount receives into the dead-letter queue), and the status is the
    uploads' own: 2, one dead-lettered."""
    job = Job(tmp_path, marker, sleep_s=1.5)
    (job.state / "broken").touch()
    for name, body in (("a.txt", "a\n"), ("b.txt", "b\n"), ("c.txt", "POISON\n")):
        (job.uploads / name).write_text(body)
    local = Shell(
        f"private-s3-processor local {job.template} --upload {job.uploads}=in "
        f"--time-scale 0.01 --endpoint-url {emulator} --json",
        job.env,
        group=True,
    )
    local.until("uploaded in/c.txt")  # the last: no upload is left to skip
    job.wait_started(local)
    workers = pids(marker, "private_s3_worker")
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 2, err
    assert "stopped by SIGINT" not in err and "Traceback" not in err
    rows = {r["key"]: r for r in map(json.loads, out.splitlines())}
    assert {k: r["outcome"] for k, r in rows.items()} == {
        "in/a.txt": "processed",
        "in/b.txt": "processed",
        "in/c.txt": "dead-lettered",
    }
    # MaxReceiveCount receives moved it; a receive the stopping worker released at once
    # (Ctrl-C reached the workers as a long poll returned it) counts too, since SQS counts
    # receives, not failures: so the runs may be fewer (as in test_local_queued.py).
    assert 1 <= rows["in/c.txt"]["runs"] <= MAX_RECEIVES
    stack = re.findall(r"stack (private-s3-local-\d+)", err)[0]
    physical = resources(emulator, stack)
    sqs = client(emulator, "sqs")
    assert depth(sqs, physical["JobsQueue"]) == (0, 0)
    (dead,) = bodies(sqs, physical["JobsDeadLetterQueue"])
    assert json.loads(dead["Body"])["detail"]["object"]["key"] == "in/c.txt"
    assert set(manifests(emulator, physical["JobsBucket"])) == {"in/a.txt", "in/b.txt"}
    assert not [pid for pid in workers if alive(pid)]
    assert gone(marker) == []


HOLDS_ON = """
import signal, sys, time
# A queue-mode worker with work in flight: SIGTERM only starts its stop timeout.
signal.signal(signal.SIGTERM, lambda *_: None)
print("ready", flush=True)
time.sleep(600)
"""
STOP_AT_ONCE = """
import os, sys
from pathlib import Path
from private_s3_processor_cli.local.ecs import start_worker, stop_workers
worker = start_worker([sys.executable, "-c", sys.argv[1]], os.environ, Path.cwd())
assert worker.stdout.readline() == "ready\\n"
print(worker.pid, flush=True)
stop_workers()
"""


def test_an_immediate_stop_ends_a_worker_that_holds_on(tmp_path: Path, marker: str) -> None:
    """What the second signal's handler calls: a worker that takes SIGTERM as the start
    of a graceful stop (queue mode, up to its stop timeout) is ended all the same."""
    run = subprocess.run(
        [sys.executable, "-c", STOP_AT_ONCE, HOLDS_ON],
        cwd=ROOT,
        env=user_env(tmp_path, marker),
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT_S,
    )
    assert gone(marker) == [], run.stderr
    assert not alive(int(run.stdout))
