"""S3 faults injected between the worker and the emulator: retryable ones are retried,
the rest end in the worker's failure code, and no output is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
from private_s3_processor_cli.local.emulator import aws_env
from private_s3_worker import ExitCode

from tests.conftest import BUCKET, ROOT, client, put
from tests.faults import Fault, FaultProxy
from tests.test_worker import keys_under, worker

OBJECT_GET = r"^/worker-tests/in/fault-[^?]*(\?versionId=.*)?$"
MANIFEST_PUT = r"^/worker-tests/out-faults/.*manifest\.json"


def _run(
    proxy: FaultProxy, endpoint: str, name: str, body: bytes, *faults: Fault
) -> tuple[int, list[dict[str, object]], str]:
    event = put(endpoint, f"in/fault-{name}.bin", body)
    proxy.faults = list(faults)
    code, lines = worker(
        proxy.url, event, OUTPUT_PREFIX=f"out-faults/{name}/", AWS_MAX_ATTEMPTS="4"
    )
    return code, lines, f"out-faults/{name}/"


@pytest.mark.parametrize("kind", ["slowdown", "internal", "reset"])
def test_retryable_faults_are_retried(proxy: FaultProxy, endpoint: str, kind: str) -> None:
    body = os.urandom(256 * 1024)
    code, lines, out = _run(proxy, endpoint, kind, body, Fault("GET", OBJECT_GET, kind, 2))
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["result"]["sha256"] == hashlib.sha256(body).hexdigest()  # type: ignore[index]
    assert proxy.faults[0].injected == 2
    gets = [r for r in proxy.requests if r[0] == "GET" and "/in/fault-" in r[1]]
    assert len(gets) == 3
    assert len(keys_under(endpoint, out)) == 1


@pytest.mark.parametrize("kind", ["slowdown", "internal", "reset"])
def test_faults_that_outlast_the_retries_fail_without_output(
    proxy: FaultProxy, endpoint: str, kind: str
) -> None:
    code, lines, out = _run(
        proxy, endpoint, f"{kind}-always", b"x" * 1000, Fault("GET", OBJECT_GET, kind, 100)
    )
    assert code == ExitCode.FAILED
    assert str(lines[-1]["error"]).startswith("S3: ")
    assert keys_under(endpoint, out) == []


def test_a_stream_cut_mid_object_is_resumed(proxy: FaultProxy, endpoint: str) -> None:
    body = os.urandom(3 * 1024 * 1024)
    code, lines, out = _run(proxy, endpoint, "cut", body, Fault("GET", OBJECT_GET, "cut", 1))
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["result"]["sha256"] == hashlib.sha256(body).hexdigest()  # type: ignore[index]
    ranges = [r[2] for r in proxy.requests if r[0] == "GET" and "/in/fault-cut" in r[1]]
    assert ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert len(keys_under(endpoint, out)) == 1


def test_a_stream_that_keeps_being_cut_fails_without_output(
    proxy: FaultProxy, endpoint: str
) -> None:
    code, _, out = _run(
        proxy, endpoint, "cut-always", os.urandom(512 * 1024), Fault("GET", OBJECT_GET, "cut", 100)
    )
    assert code == ExitCode.FAILED
    assert keys_under(endpoint, out) == []


def test_a_failing_manifest_write_is_retried(proxy: FaultProxy, endpoint: str) -> None:
    code, lines, out = _run(
        proxy, endpoint, "put", b"a,b\n1,2\n", Fault("PUT", MANIFEST_PUT, "slowdown", 2)
    )
    assert code == ExitCode.PROCESSED, lines[-1]
    assert len(keys_under(endpoint, out)) == 1


def test_a_manifest_that_cannot_be_written_fails_and_leaves_nothing(
    proxy: FaultProxy, endpoint: str
) -> None:
    code, _, out = _run(
        proxy, endpoint, "put-always", b"a,b\n1,2\n", Fault("PUT", MANIFEST_PUT, "internal", 100)
    )
    assert code == ExitCode.FAILED
    assert keys_under(endpoint, out) == []
    assert client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=out).get("KeyCount") == 0


def test_sigterm_ends_one_object_mode_as_a_failure_without_output(endpoint: str) -> None:
    """ECS stops a task with SIGTERM; the worker must end at once with its FAILED line and
    code (a PID 1 without a handler would ignore the signal until SIGKILL) and write
    nothing, so the upload stays re-drivable."""
    event = put(endpoint, "in/fault-stopped.bin", b"x" * 100)
    env = {
        **aws_env(endpoint),
        **event,
        "PYTHONPATH": str(ROOT),
        "OUTPUT_PREFIX": "out-faults/stopped/",
        "PROCESSOR": "private_s3_worker.testing:echo",
        "TEST_SLEEP_SECONDS": "600",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "private_s3_worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        events = []
        while "test-mode" not in events:  # the processor is running
            line = proc.stdout.readline()
            assert line, "the worker ended before its processor started"
            events.append(json.loads(line)["event"])
        proc.send_signal(signal.SIGTERM)
        rest, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == ExitCode.FAILED, (proc.returncode, stderr)
    last = json.loads(rest.splitlines()[-1])
    assert last["outcome"] == "failed" and "SIGTERM" in last["error"]
    assert keys_under(endpoint, "out-faults/stopped/") == []
