"""ECS in the emulator: RunTask records the task (after the simulated launch faults,
``launches.py``, and the simulated account's quota, ``quota.py``), the worker runs as a
local process, StopTask records its end and gives the task's vCPUs back to the quota.
The emulator runs nothing itself; tasks someone else started (``redrive``) are listed
for the session to run."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..quota import Quota
from .emulator import aws_env
from .forked import FRESH, ForkedWorker, ForkServer, ForkServerError, forks
from .launches import LaunchError, LaunchFaults
from .model import Processor, Row

STARTED_BY = "private-s3-local"  # RunTask's startedBy for the tasks the session launches
Worker = subprocess.Popen[str] | ForkedWorker  # a task's process, started either way


@dataclass
class Ecs:
    """The ECS calls the delivery modes make, on the emulator, and the worker each
    task runs."""

    aws: dict[str, Any]
    endpoint: str
    cwd: Path
    faults: LaunchFaults  # replaced to end a simulated outage (bench/delivery.py)
    quota: Quota  # the account's launch rate and vCPUs, shared by every mode
    # Tasks launched here, holding their vCPUs (a task redrive started holds none).
    held: set[str] = field(default_factory=set)

    def run_task(self, p: Processor, row: Row, network: Mapping[str, Any]) -> str:
        """RunTask for one upload's task (LaunchError as ``launch``)."""
        row.launch_attempts += 1
        task_arn = self.launch(p, network, row.overrides)
        row.task_arn = task_arn
        return task_arn

    def launch(
        self,
        p: Processor,
        network: Mapping[str, Any],
        overrides: Mapping[str, Any] | None,
        service: str = "",
    ) -> str:
        """RunTask in the emulator after the simulated faults and the account's quota:
        either refuses with the LaunchError of its kind; a launched task holds its vCPUs
        until ``stopped``. A ``service``'s task is placed by ECS's scheduler (startedBy
        the service; no RunTask call of the caller's to throttle)."""
        self.faults.check(p.task_definition)
        refusal = self.quota.run_task(p.vcpus, service=bool(service))
        if refusal is not None:
            raise LaunchError(refusal.kind, p.task_definition, refusal.message)
        try:
            launched = self.aws["ecs"].run_task(
                cluster=p.cluster,
                taskDefinition=p.task_definition,
                launchType="FARGATE",
                overrides=dict(overrides or {}),
                count=1,
                startedBy=service or STARTED_BY,
                networkConfiguration=dict(network),
            )
        except BaseException:
            self.quota.task_stopped(p.vcpus)
            raise
        task_arn = str(launched["tasks"][0]["taskArn"])
        self.held.add(task_arn)
        return task_arn

    def stopped(self, p: Processor, task_arn: str, reason: str) -> None:
        """StopTask in the emulator; the task's vCPUs go back to the quota."""
        self._release(p, task_arn)
        self.aws["ecs"].stop_task(cluster=p.cluster, task=task_arn, reason=reason)

    def run(self, p: Processor, row: Row) -> None:
        """The launched task: its worker runs to the end, then the task stops."""
        try:
            run_worker(self.endpoint, p, row, self.cwd)
        except BaseException:
            self._release(p, row.task_arn)
            raise
        row.runs += 1
        self.stopped(p, row.task_arn, "Essential container in task exited")

    def _release(self, p: Processor, task_arn: str) -> None:
        if task_arn in self.held:
            self.held.discard(task_arn)
            self.quota.task_stopped(p.vcpus)

    def foreign_tasks(self, p: Processor, started: set[str]) -> list[dict[str, Any]]:
        """The running tasks of ``p``'s bucket that no session of this flow launched and
        ``started`` does not hold (``redrive`` re-submitted them)."""
        pages = (
            self.aws["ecs"]
            .get_paginator("list_tasks")
            .paginate(cluster=p.cluster, desiredStatus="RUNNING")
        )
        fresh = [a for page in pages for a in page["taskArns"] if a not in started]
        # DescribeTasks takes up to 100 tasks a call (ECS API Reference, DescribeTasks).
        tasks = [
            task
            for i in range(0, len(fresh), 100)
            for task in self.aws["ecs"].describe_tasks(cluster=p.cluster, tasks=fresh[i : i + 100])[
                "tasks"
            ]
        ]
        return [
            task
            for task in tasks
            # Not this session's own (even one whose worker is just starting), nor another
            # processor's task in the shared cluster.
            if task.get("startedBy") != STARTED_BY
            and task_environment(task).get("S3_BUCKET") == p.bucket
        ]


def task_environment(task: Mapping[str, Any]) -> dict[str, str]:
    """The environment a task's container overrides set."""
    return {
        e["name"]: e["value"]
        for o in task.get("overrides", {}).get("containerOverrides", [])
        for e in o.get("environment", [])
    }


def task_pythonpath(cwd: Path, env: Mapping[str, str]) -> str:
    """A task's PYTHONPATH locally: its working directory first (the image's worker is
    this checkout's), then what the environment already gave."""
    return os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH", "")]))


def worker_command(p: Processor) -> list[str]:
    """What the container runs, locally: the test block as written, or the worker."""
    entry = p.container.get("entryPoint") or []
    if entry[:2] == ["sh", "-c"]:
        return ["sh", "-c", *(p.container.get("command") or [])]
    # The image's entrypoint is the project's worker; locally it runs from this checkout.
    return [sys.executable, "-m", "private_s3_worker"]


def run_worker(endpoint: str, p: Processor, row: Row, cwd: Path) -> None:
    """One task: the container's environment, then the overrides, then the emulator."""
    env = {**aws_env(endpoint), **p.container["environment"]}
    env.setdefault("TEST_SLEEP_SECONDS", "0")  # the test block sleeps 60 s by default
    assert row.overrides is not None
    for override in row.overrides.get("containerOverrides", []):
        if override.get("name") == "worker":
            env.update({e["name"]: str(e["value"]) for e in override.get("environment", [])})
    env["PYTHONPATH"] = task_pythonpath(cwd, env)
    row.environment = {k: v for k, v in env.items() if k.startswith("S3_")}
    start = time.monotonic()
    proc = start_worker(worker_command(p), env, cwd)
    with proc:
        try:
            stdout, stderr = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            _WORKERS.discard(proc)
    run = subprocess.CompletedProcess(proc.args, proc.wait(), stdout, stderr)
    row.duration_s = round(time.monotonic() - start, 3)
    row.exit_code = run.returncode
    last = _last_json(run.stdout)
    row.outputs = list(last.get("outputs", [])) if last else []
    row.status = str(last.get("outcome", "exited")) if last else "exited"
    if run.returncode != 0 and not last:
        row.status = f"exited {run.returncode}: {run.stderr.strip()[-200:]}"


_WORKERS: set[Worker] = set()  # the workers running now
_LAUNCHING = threading.Lock()  # held while a worker is started and registered
_STOPPING = False  # set by stop_workers(): no worker starts after it
# The fork server of each working directory (forkserver.py), started at its first
# worker; None where one could not start (its workers then start fresh).
_SERVERS: dict[Path, ForkServer | None] = {}


def start_worker(command: list[str], env: Mapping[str, str], cwd: Path) -> Worker:
    """A worker process, registered so that an immediate stop terminates it; the caller
    reads its output and removes it with ``forget_worker`` once it has ended. The
    project's worker is forked from a pre-imported server when it can be (the same
    process, environment and exit status, without the imports: forkserver.py); any
    other command, or a task whose interpreter settings differ, starts fresh."""
    server = _server(cwd) if forks(command) else None  # outside the launch lock
    with _LAUNCHING:
        if _STOPPING:
            raise SystemExit(1)  # this thread ends; the process is exiting anyway
        proc: Worker | None = None
        if server is not None and server.serves(env, cwd):
            try:
                proc = server.start(command, env)
            except (ForkServerError, OSError):
                _retire(cwd, server)  # fresh interpreters from now on
        if proc is None:
            proc = subprocess.Popen(
                command,
                env=dict(env),
                cwd=cwd,
                # A Fargate task has no stdin; a forked worker reads /dev/null too.
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # Like a Fargate task, the worker does not receive the Ctrl-C typed at
                # `local` (which then lets the running tasks finish before it prints the
                # table).
                start_new_session=True,
            )
        _WORKERS.add(proc)
    return proc


_BUILDING = threading.Lock()  # held while a server starts (never with _LAUNCHING)


def _server(cwd: Path) -> ForkServer | None:
    """This directory's fork server, started now if it has none yet. Started outside
    _LAUNCHING, which an immediate stop must get at once; one that finishes starting
    after that stop is closed, not used."""
    if os.environ.get(FRESH):
        return None
    with _BUILDING:
        if cwd not in _SERVERS:
            # The flow's own environment, never a task's (each child gets its task's),
            # with the PYTHONPATH run_worker gives a task: the directory first.
            env = dict(os.environ)
            env["PYTHONPATH"] = task_pythonpath(cwd, env)
            try:
                _SERVERS[cwd] = ForkServer(cwd, env)
            except (ForkServerError, OSError):
                _SERVERS[cwd] = None  # fresh interpreters, as before the server existed
        server = _SERVERS[cwd]
    if server is not None and _STOPPING:
        server.close()
        return None
    return server


def _retire(cwd: Path, server: ForkServer) -> None:
    """A server that failed a start is closed and never used again."""
    with _BUILDING:
        if _SERVERS.get(cwd) is server:
            _SERVERS[cwd] = None
    server.close()


def warm_server(cwd: Path) -> None:
    """Start ``cwd``'s fork server in the background (its imports take as long as a
    fresh worker's), so that it is ready by the first task."""
    threading.Thread(target=_server, args=(cwd,), name="fork-server", daemon=True).start()


def forget_worker(proc: Worker) -> None:
    _WORKERS.discard(proc)


@atexit.register
def close_servers() -> None:
    """End the fork servers (each would also end when this process does). Without the
    launch lock: an immediate stop (``stop_workers``) holds it to the end."""
    for server in list(_SERVERS.values()):
        if server is not None:
            server.close()


def stop_workers() -> None:
    """Kill the running workers and what they started (each leads a process group of
    its own); for an immediate stop, from a signal handler. SIGKILL, not SIGTERM: a
    queue-mode worker takes SIGTERM as the start of its graceful stop and finishes the
    objects in flight for up to its stop timeout, which would outlive `local`. Holding
    the launch lock (never released: the process exits next), so a worker being started
    right now is either in the set or never started, never orphaned. The main thread,
    where signal handlers run, never holds that lock; the timeout only bounds the
    unforeseen."""
    global _STOPPING
    _LAUNCHING.acquire(timeout=5)
    _STOPPING = True
    for proc in list(_WORKERS):
        with suppress(ProcessLookupError, PermissionError):  # it has just ended
            os.killpg(proc.pid, signal.SIGKILL)


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None
