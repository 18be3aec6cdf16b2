"""A Queued processor's ECS service in the local flow: its tasks are worker processes in
queue mode, started and stopped as the service's scaling decides.

Once a simulated minute the scaler (``scaling.Scaler``, read back from the deployed
policies and alarms, ``autoscaling.py``) takes that minute's datapoints: the queue's
ApproximateNumberOfMessagesVisible and ...NotVisible, sampled from the emulator's real
queue every 10 simulated seconds and reduced by each alarm metric's statistic (SQS
publishes them once a minute), and the rule's Invocations, counted as events are sent.
The desired count it returns is applied the way the ECS service scheduler does: tasks
are launched through the account's quota (``Ecs.launch``: a refused launch is tried
again at the next pass, as the scheduler retries), and scale-in stops tasks without
scale-in protection with SIGTERM (the protection each worker sets through its
``ECS_AGENT_URI`` is recorded by ``agent.py``; ECS never stops a protected task then).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from subprocess import TimeoutExpired
from typing import Any

from ..scaling import statistic
from .agent import Agent
from .ecs import Ecs, Worker, forget_worker, start_worker, task_pythonpath
from .emulator import aws_env
from .launches import LaunchError
from .model import Processor

SAMPLE_S = 10.0  # simulated seconds between two looks at the queue
MINUTE = 60.0  # the alarms' Period and SQS's publishing interval
# How long the local flow lets a queue wait with every launch refused before it ends the
# run with those uploads not processed (ten alarm periods of a scaler that asks for tasks
# the account cannot start: a vCPU quota or a launch fault that does not lift).
STALLED_S = 600.0
VISIBLE = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
NOT_VISIBLE = ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible")
INVOCATIONS = ("AWS/Events", "Invocations")
PUBLISHED = (VISIBLE, NOT_VISIBLE, INVOCATIONS)  # what the local flow can give an alarm
# How long the worker may take to stop after SIGTERM: QUEUE_STOP_TIMEOUT (Fargate's
# stopTimeout, at most 120 s) plus a margin; then it is killed, as ECS sends SIGKILL.
STOP_GRACE_S = 130.0

Sink = Callable[[str, dict[str, Any]], None]  # (task ARN, a JSON line of its worker)


@dataclass
class Task:
    arn: str
    proc: Worker
    stopping: bool = False  # SIGTERM sent (scale-in or the end of the session)
    # The worker said it serves the queue: its SIGTERM handler is in place from then on
    # (a container is not signalled before it runs either).
    ready: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    readers: list[threading.Thread] = field(default_factory=list)


class Service:
    """The service of one Queued processor: its scaler thread and its tasks."""

    def __init__(
        self,
        p: Processor,
        ecs: Ecs,
        agent: Agent,
        sink: Sink,
        progress: Callable[[str], None],
        clock: Callable[[], float],
        time_scale: float,
    ) -> None:
        assert p.scaler is not None
        self.p, self.ecs, self.agent, self.sink = p, ecs, agent, sink
        self.progress, self.clock, self.time_scale = progress, clock, time_scale
        self.scaler = p.scaler
        self.tasks: dict[str, Task] = {}
        self.desired = 0
        self.peak = 0  # the largest desired count
        self.launches: Counter[str] = Counter()  # "launched", and refusals by kind
        # Simulated time since when every launch was refused with no task running (None:
        # a task runs or none was wanted): how long the queue has had no worker.
        self.refused_since: float | None = None
        self._arrived: list[float] = []  # this minute's invocations of the rule
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=p.logical_id)
        self._thread.start()

    def arrived(self) -> None:
        """The rule invoked its target (the queue) once."""
        with self._lock:
            self._arrived.append(1.0)

    def _loop(self) -> None:
        try:
            self._scale()
        except Exception as exc:  # the emulator went away: say so, the tasks stay as they are
            self.progress(f"{self.p.logical_id}: scaling stopped ({type(exc).__name__}: {exc})")

    def _scale(self) -> None:
        samples: dict[tuple[str, str], list[float]] = {VISIBLE: [], NOT_VISIBLE: []}
        next_tick = self.clock() + MINUTE
        while not self._stop.wait(max(0.05, SAMPLE_S * self.time_scale)):
            depth = self.depth()
            for metric, value in zip((VISIBLE, NOT_VISIBLE), depth, strict=True):
                samples[metric].append(float(value))
            ticked = False
            while self.clock() >= next_tick and not self._stop.is_set():
                ticked = True
                with self._lock:
                    samples[INVOCATIONS], self._arrived = self._arrived, []
                self._tick(next_tick, samples)
                # A further minute this loop missed (the machine was busy) still had the
                # queue as last seen: SQS would have published that, and an empty minute
                # would read as idle to the alarms.
                samples = {VISIBLE: [float(depth[0])], NOT_VISIBLE: [float(depth[1])]}
                next_tick += MINUTE
            if ticked:  # the new minute starts with no sample of its own
                samples = {VISIBLE: [], NOT_VISIBLE: []}
            self._reconcile()

    def depth(self) -> tuple[int, int]:
        """The queue's messages (visible, in flight), as the emulator counts them."""
        answer = self.ecs.aws["sqs"].get_queue_attributes(
            QueueUrl=self.p.queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(answer["ApproximateNumberOfMessages"]),
            int(answer["ApproximateNumberOfMessagesNotVisible"]),
        )

    def _tick(self, now: float, samples: dict[tuple[str, str], list[float]]) -> None:
        datapoints = {
            (ns, name): statistic(stat, samples.get((ns, name), []))
            for ns, name, stat in self.scaler.metrics
        }
        logged = len(self.scaler.log)
        desired = self.scaler.tick(now, datapoints, self.desired)
        for at, alarm, state, count in self.scaler.log[logged:]:
            self.progress(
                f"{self.p.logical_id}: at {at:.0f} s (simulated) alarm {alarm} is {state}; "
                f"desired count {count}"
            )
        with self._lock:
            self.desired = desired
            self.peak = max(self.peak, desired)

    def stalled(self) -> bool:
        """Every launch refused, with no task running, for STALLED_S simulated seconds."""
        since = self.refused_since
        return since is not None and not self.running() and self.clock() - since >= STALLED_S

    def running(self) -> list[Task]:
        return [t for t in self.tasks.values() if not t.stopping and t.exit_code is None]

    def _reconcile(self) -> None:
        """Launch tasks up to the desired count; stop unprotected ones above it."""
        with self._lock:
            desired = self.desired
        running = self.running()
        for _ in range(desired - len(running)):
            try:
                self._start()
            except LaunchError as exc:
                self.launches[exc.kind] += 1
                if self.launches[exc.kind] == 1:  # said once; the summary counts them all
                    self.progress(
                        f"{self.p.logical_id}: a task could not launch ({exc.kind}: {exc}); "
                        "the service tries again at each pass"
                    )
                if not self.running() and self.refused_since is None:
                    self.refused_since = self.clock()
                break  # the scheduler tries again at its next pass
            self.refused_since = None
        excess = len(running) - desired
        for task in running:
            if excess <= 0:
                break
            if task.ready.is_set() and not self.agent.protected(task.arn):
                self._terminate(task)
                excess -= 1

    def _start(self) -> None:
        p = self.p
        # ECS names a service's tasks startedBy "ecs-svc/<deployment>".
        arn = self.ecs.launch(p, p.network, None, service=f"ecs-svc/{p.service}")
        env = {**aws_env(self.ecs.endpoint), **p.container["environment"]}
        env.setdefault("TEST_SLEEP_SECONDS", "0")  # the test processor sleeps 60 s otherwise
        # The waits of a worker, shortened like every wait of the flow (SQS's long poll is
        # a whole number of seconds, 1 to 20 here).
        env["QUEUE_WAIT_SECONDS"] = str(min(20, max(1, math.ceil(20 * self.time_scale))))
        env["QUEUE_RETRY_SECONDS"] = str(round(30 * self.time_scale))
        env["ECS_AGENT_URI"] = self.agent.uri(arn)
        env["PYTHONPATH"] = task_pythonpath(self.ecs.cwd, env)
        try:
            proc = start_worker([sys.executable, "-m", "private_s3_worker"], env, self.ecs.cwd)
        except BaseException:
            self.ecs.stopped(p, arn, "Task failed to start")
            raise
        task = Task(arn, proc)
        self.tasks[arn] = task
        self.launches["launched"] += 1
        task.readers = [
            threading.Thread(target=self._read, args=(task,), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, task.stderr), daemon=True),
        ]
        for reader in task.readers:
            reader.start()

    def _read(self, task: Task) -> None:
        """The worker's JSON lines, as they come; then its end."""
        assert task.proc.stdout is not None
        for line in task.proc.stdout:
            with suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    if value.get("event") == "queue-mode":
                        task.ready.set()
                    self.sink(task.arn, value)
        code = task.proc.wait()
        forget_worker(task.proc)
        task.exit_code = code
        with suppress(Exception):  # the emulator may be gone at an immediate stop
            self.ecs.stopped(self.p, task.arn, "Essential container in task exited")
        self.sink(task.arn, {"event": "exited", "exit_code": code, "stderr": list(task.stderr)})

    def _terminate(self, task: Task) -> None:
        task.stopping = True
        with suppress(ProcessLookupError, PermissionError):  # it has just ended
            os.killpg(task.proc.pid, signal.SIGTERM)

    def close(self) -> dict[str, int | None]:
        """Stop scaling, SIGTERM every task, wait for each (killed after the grace);
        returns each task's exit code."""
        self._stop.set()
        self._thread.join()
        for task in list(self.tasks.values()):
            _started(task)
            if task.exit_code is None:
                self._terminate(task)
        for task in self.tasks.values():
            try:
                task.proc.wait(timeout=STOP_GRACE_S)
            except TimeoutExpired:
                task.proc.kill()
            for reader in task.readers:
                reader.join()
        return {arn: task.exit_code for arn, task in self.tasks.items()}


def _started(task: Task) -> None:
    """Wait until the worker serves the queue (or has ended): a worker still starting has
    no SIGTERM handler yet."""
    deadline = time.monotonic() + STOP_GRACE_S
    while not task.ready.wait(0.1) and task.proc.poll() is None:
        if time.monotonic() > deadline:
            return


def _drain(stream: Iterable[str] | None, tail: deque[str]) -> None:
    for line in stream or []:
        tail.append(line.rstrip("\n"))
