"""The local flow's fork server (``local/forkserver.py``): a forked worker is the fresh
interpreter it replaces, seen from inside (environment, directory, process group,
stdin, argv, ``__main__``) and from outside (exit statuses, signals to its group), and
anything it cannot be the same for gets a fresh interpreter instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_s3_processor_cli.local import ecs
from private_s3_processor_cli.local.emulator import aws_env, moto_server
from private_s3_processor_cli.local.forked import FRESH, ForkedWorker, ForkServer
from private_s3_worker.keys import MANIFEST, output_base

from tests.conftest import ROOT

WORKER = [sys.executable, "-m", "private_s3_worker"]
BUCKET = "forkserver"
KEY = "in/ü (1)+x.txt"


@pytest.fixture(scope="module")
def s3(emulator: str) -> Any:
    client = boto3.client("s3", **_client_args(emulator))
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return client


def _client_args(endpoint: str) -> dict[str, str]:
    env = aws_env(endpoint)
    return {
        "endpoint_url": endpoint,
        "region_name": env["AWS_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": env["AWS_SESSION_TOKEN"],
    }


def task_env(endpoint: str, s3: Any, prefix: str, **more: str) -> dict[str, str]:
    """A task's environment, as ``run_worker`` builds it, for one uploaded object."""
    answer = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"a\nb\n")
    env = aws_env(endpoint)
    env.update(
        S3_BUCKET=BUCKET,
        S3_KEY=KEY,
        S3_SIZE="4",
        S3_ETAG=answer["ETag"].strip('"'),
        S3_VERSION_ID="",
        OUTPUT_PREFIX=prefix,
        PROCESSOR="tests.worker_processors:process_facts",
    )
    env.update(more)
    return env


def as_task(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """``env`` with the PYTHONPATH ``run_worker`` gives a task in ``cwd``: it first."""
    given = env.get("PYTHONPATH", "")
    if given.split(os.pathsep)[0] == str(cwd):
        return env
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), given]))}


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[Any, str, str]:
    proc = ecs.start_worker(command, as_task(env, cwd), cwd)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        ecs.forget_worker(proc)
    return proc, out, err


def facts(s3: Any, env: dict[str, str]) -> dict[str, Any]:
    base = output_base(env["OUTPUT_PREFIX"], KEY, env["S3_ETAG"])
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=base + MANIFEST)["Body"].read())
    result: dict[str, Any] = manifest["result"]
    return result


def test_a_forked_worker_is_the_fresh_interpreter_it_replaces(
    emulator: str, s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # In the server's environment (the flow's own), not in the task's.
    monkeypatch.setenv("FLOW_ONLY", "the server has it; no task does")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # where the processor is, for both
    forked_env = as_task(task_env(emulator, s3, "forked/"), tmp_path)
    forked_env.pop("FLOW_ONLY")
    forked, out, err = run(WORKER, forked_env, tmp_path)
    assert isinstance(forked, ForkedWorker), "the worker was not forked"
    assert forked.returncode == 0, (out, err)
    monkeypatch.setenv(FRESH, "1")
    fresh_env = as_task(task_env(emulator, s3, "fresh/"), tmp_path)
    fresh_env.pop("FLOW_ONLY")
    started, out, err = run(WORKER, fresh_env, tmp_path)
    assert isinstance(started, subprocess.Popen)
    assert started.returncode == 0, (out, err)

    mine, theirs = facts(s3, forked_env), facts(s3, fresh_env)
    assert mine["environment"] == forked_env  # exactly the task's, nothing of the server's
    assert theirs["environment"] == fresh_env
    for name in (
        "cwd",
        "group_leader",
        "stdin_is_devnull",
        "argv",
        "main",
        "path_head",
        "stdout_encoding",
        "stdout_line_buffering",
    ):
        assert mine[name] == theirs[name], name
    assert mine["group_leader"] and mine["stdin_is_devnull"]
    assert mine["argv"][0].endswith(os.path.join("private_s3_worker", "__main__.py"))
    assert mine["main"] == "private_s3_worker.__main__"


def test_forked_workers_each_draw_their_own_random_numbers(emulator: str, s3: Any) -> None:
    """botocore's retry jitter comes from ``random``: forked children re-seed it."""
    draws = []
    for i in range(3):
        env = task_env(emulator, s3, f"random-{i}/")
        proc, out, err = run(WORKER, env)
        assert isinstance(proc, ForkedWorker) and proc.returncode == 0, (out, err)
        draws.append(facts(s3, env)["random"])
    assert len(set(draws)) == 3, draws


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "fresh"])
def test_exit_statuses_and_signals_reach_the_caller_unchanged(
    forked: bool, emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not forked:
        monkeypatch.setenv(FRESH, "1")
    env = aws_env(emulator)
    proc, out, _ = run([*WORKER, "bogus"], env)
    assert proc.returncode == 78 and '"event": "usage"' in out
    proc, out, _ = run(WORKER, env)  # no S3_* at all
    assert proc.returncode == 78 and "S3_BUCKET is not set" in out

    for sig in (signal.SIGKILL, signal.SIGTERM):
        sleeping = as_task({**env, "TEST_SLEEP_SECONDS": "60"}, ROOT)
        sleeper = ecs.start_worker([*WORKER, "test"], sleeping, ROOT)
        assert isinstance(sleeper, ForkedWorker) is forked
        assert sleeper.stdout is not None
        sleeper.stdout.readline()  # it has started: its test-mode line
        if sys.platform == "linux":  # as `ps` shows it (elsewhere the server's stays)
            shown = subprocess.run(
                ["ps", "ww", "-o", "command=", "-p", str(sleeper.pid)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert shown == " ".join([*WORKER, "test"])
        os.killpg(sleeper.pid, sig)  # as stop_workers and a service's scale-in do
        assert sleeper.wait(timeout=30) == -sig
        ecs.forget_worker(sleeper)


def test_a_task_with_other_interpreter_settings_gets_a_fresh_interpreter(emulator: str) -> None:
    """PYTHONHASHSEED, PYTHONUTF8, LANG...: read as an interpreter starts, so a fork
    cannot take them from the task."""
    env = aws_env(emulator)
    same, _, _ = run([*WORKER, "test"], {**env, "TEST_SLEEP_SECONDS": "0"})
    assert isinstance(same, ForkedWorker)
    for name, value in (("PYTHONHASHSEED", "7"), ("PYTHONUTF8", "1"), ("LC_ALL", "C")):
        task = {**env, "TEST_SLEEP_SECONDS": "0", name: value}
        other, out, err = run([*WORKER, "test"], task)
        assert isinstance(other, subprocess.Popen), name
        assert other.returncode == 0, (name, out, err)
    sh, out, _ = run(["sh", "-c", "echo $0"], env)  # not the worker: never forked
    assert isinstance(sh, subprocess.Popen) and out.strip() == "sh"


def test_a_processor_written_after_the_server_started_is_found(
    emulator: str, s3: Any, tmp_path: Path
) -> None:
    """The server imported its modules before this file existed; the child's import
    system must still see the directory as it is now."""
    run([*WORKER, "test"], {**aws_env(emulator), "TEST_SLEEP_SECONDS": "0"}, tmp_path)
    (tmp_path / "late_processor.py").write_text(
        "def process(source, outputs):\n    return {'late': source.body.read().decode()}\n"
    )
    env = task_env(emulator, s3, "late/", PROCESSOR="late_processor:process")
    proc, out, err = run(WORKER, env, tmp_path)
    assert isinstance(proc, ForkedWorker)
    assert proc.returncode == 0, (out, err)
    assert facts(s3, env) == {"late": "a\nb\n"}


def test_when_the_server_dies_its_workers_are_killed_and_the_next_start_fresh(
    emulator: str, tmp_path: Path
) -> None:
    env = {**aws_env(emulator), "TEST_SLEEP_SECONDS": "60"}
    running = ecs.start_worker([*WORKER, "test"], as_task(env, tmp_path), tmp_path)
    assert isinstance(running, ForkedWorker) and running.stdout is not None
    running.stdout.readline()
    server = ecs._SERVERS[tmp_path]
    assert server is not None
    server.proc.kill()
    # Its child can no longer be reaped or reported: it is killed, and said to be.
    assert running.wait(timeout=30) == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        _wait_gone(running.pid)
    ecs.forget_worker(running)
    after, out, err = run([*WORKER, "test"], {**env, "TEST_SLEEP_SECONDS": "0"}, tmp_path)
    assert isinstance(after, subprocess.Popen)
    assert after.returncode == 0, (out, err)


def _wait_gone(pid: int) -> None:
    """Raises ProcessLookupError once ``pid``'s group has no process left."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        os.killpg(pid, 0)
        time.sleep(0.05)


def test_closing_the_server_leaves_no_process(emulator: str, tmp_path: Path) -> None:
    server = ForkServer(tmp_path, as_task(aws_env(emulator), tmp_path))
    worker = server.start([*WORKER, "test"], {**aws_env(emulator), "TEST_SLEEP_SECONDS": "0"})
    worker.communicate(timeout=60)
    assert worker.returncode == 0
    server.close()
    assert server.proc.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(worker.pid, 0)


def test_a_task_whose_python_path_holds_another_worker_runs_that_worker(
    emulator: str, tmp_path: Path
) -> None:
    """The server imported the checkout's worker; a task whose PYTHONPATH puts another
    copy first must run that copy, as a fresh interpreter would."""
    shadow = tmp_path / "shadow" / "private_s3_worker"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text("print('the shadow worker')\n")
    env = {**aws_env(emulator), "TEST_SLEEP_SECONDS": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shadow.parent), env.get("PYTHONPATH")]))
    proc, out, err = run([*WORKER, "test"], env)  # in ROOT: ROOT, then the shadow
    assert isinstance(proc, subprocess.Popen)
    assert (proc.returncode, out.strip()) == (0, "the shadow worker"), err


def test_a_broken_aws_profile_of_the_flow_does_not_cost_the_fork(
    emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's warm-up creates clients: it must not read the user's AWS profile
    (a task has its own credentials, aws_env's)."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "unparsable"))
    (tmp_path / "unparsable").write_text("[[[not ini\n")
    env = {**aws_env(emulator), "TEST_SLEEP_SECONDS": "0"}
    proc, out, err = run([*WORKER, "test"], env, tmp_path)
    assert isinstance(proc, ForkedWorker), "the server did not start"
    assert proc.returncode == 0, (out, err)


def test_workers_that_end_at_once_leave_nothing_registered(emulator: str, tmp_path: Path) -> None:
    """A worker can end (and be reaped) before start() has registered it: nothing of it
    may stay, or a dying server would later kill whatever process holds its pid."""
    env = as_task(aws_env(emulator), tmp_path)
    server = ForkServer(tmp_path, env)
    try:
        for _ in range(40):
            worker = server.start([*WORKER, "bogus"], env)
            worker.communicate(timeout=60)
            assert worker.returncode == 78
        assert server._workers == {} and server._early == {}
    finally:
        server.close()


def test_the_emulator_imports_nothing_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`local` run from a folder holding a responses.py (one of moto's dependencies)."""
    (tmp_path / "responses.py").write_text("raise ImportError('shadowed')\n")
    monkeypatch.chdir(tmp_path)
    with moto_server(tmp_path / "moto.log") as url:
        assert url.startswith("http://")
