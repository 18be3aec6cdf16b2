"""The burst benchmark's discrete-event simulation (``bench/burst.py`` reports it): one
burst of uploads into one delivery mode, on the simulated account quota
(``private_s3_processor_cli.quota``), in simulated seconds; nothing sleeps.

Each mode reacts to the quota as the local flow plays it and as the macro writes it:

- Direct: EventBridge's ECS target calls RunTask once per upload; ThrottlingException is
  retried with the local flow's backoff (full jitter, capped at 60 s) up to the rule
  target's MaximumRetryAttempts, then dead-lettered; a 200 with ``failures[]`` counts as
  delivered, so that upload is lost (``local/delivery/direct.py``).
- Orchestrated: the state machine retries any launch error LAUNCH_RETRIES times, the
  n-th after a whole number of seconds drawn from 0 to LAUNCH_DELAYS_S[n] (rules.py, read
  here, not restated), then dead-letters.
- Queued: the uploads wait in the queue; the service's desired count comes from
  ``scaling.Scaler`` built from the expanded template; the ECS scheduler launches
  toward it through the same quota (a service makes no RunTask calls of its own), each
  task then holds up to Concurrency messages. A task with work in flight is protected
  from scale-in: an excess task stops when it has nothing in flight.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from private_s3_processor.rules import LAUNCH_DELAYS_S, LAUNCH_RETRIES
from private_s3_processor_cli.quota import Quota, QuotaLimits
from private_s3_processor_cli.scaling import Scaler

VISIBLE = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
INFLIGHT = ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible")
ARRIVED = ("AWS/Events", "Invocations")
# How long the ECS service scheduler waits before it tries a refused launch again: not
# documented; a guess that only matters when the vCPU quota is below MaxTasks' vCPUs.
SERVICE_RETRY_S = 10.0


@dataclass(frozen=True)
class Setup:
    uploads: int = 10_000
    arrival_s: float = 100.0  # the uploads arrive evenly over this many seconds
    first_upload_s: float = 30.0  # after a quiet period, half a minute into a minute
    processing_s: float = 1.0  # per object, once a worker holds it
    startup_s: float = 30.0  # launch to the worker running (image pull included)
    vcpus: float = 0.25
    limits: QuotaLimits = field(default_factory=QuotaLimits)
    seed: int = 1


@dataclass
class Outcome:
    mode: str
    counts: Counter[str] = field(default_factory=Counter)  # processed, dead-lettered, lost
    launches: int = 0
    task_seconds: float = 0.0  # launch to stop, summed
    billed_seconds: float = 0.0  # each task at least the minimum
    drain_s: float = 0.0  # first upload to the last upload's outcome
    lag_s: float | None = None  # first upload to the first worker running
    idle_s: float | None = None  # first upload to the last task stopped (Queued)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (t, desired)
    refusals: Counter[str] = field(default_factory=Counter)


class _Sim:
    def __init__(self, setup: Setup, mode: str, minimum_s: float) -> None:
        self.setup, self.minimum_s = setup, minimum_s
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.rng = random.Random(setup.seed)
        self.quota = Quota(setup.limits, lambda: self.now)
        self.out = Outcome(mode)

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._seq), action))

    def run(self) -> Outcome:
        while self._events:
            self.now, _, action = heapq.heappop(self._events)
            action()
        self.out.refusals = Counter(
            {k: v for k, v in self.quota.counts.items() if k in ("throttled", "vcpu")}
        )
        return self.out

    def arrivals(self) -> list[float]:
        s = self.setup
        step = s.arrival_s / max(1, s.uploads - 1)
        return [s.first_upload_s + i * step for i in range(s.uploads)]

    def outcome(self, what: str) -> None:
        self.out.counts[what] += 1
        self.out.drain_s = max(self.out.drain_s, self.now - self.setup.first_upload_s)

    def started(self) -> None:
        self.out.launches += 1

    def running(self) -> None:
        if self.out.lag_s is None:
            self.out.lag_s = self.now - self.setup.first_upload_s

    def stopped(self, launched_at: float) -> None:
        self.quota.task_stopped(self.setup.vcpus)
        duration = self.now - launched_at
        self.out.task_seconds += duration
        self.out.billed_seconds += max(duration, self.minimum_s)


def one_task_per_upload(setup: Setup, mode: str, minimum_s: float, retry_attempts: int) -> Outcome:
    """Direct (``mode`` "Direct") or Orchestrated: one RunTask per upload."""
    sim = _Sim(setup, mode, minimum_s)

    def task() -> None:
        launched = sim.now
        sim.started()
        sim.at(launched + setup.startup_s, sim.running)

        def done() -> None:
            sim.stopped(launched)
            sim.outcome("processed")

        sim.at(launched + setup.startup_s + setup.processing_s, done)

    def attempt(retry: int) -> None:
        refused = sim.quota.run_task(setup.vcpus)
        if refused is None:
            task()
        elif mode == "Direct":
            if refused.kind == "failures":
                sim.outcome("lost")  # EventBridge counted the 200 as delivered
            elif retry >= retry_attempts:
                sim.outcome("dead-lettered")
            else:
                wait = sim.rng.uniform(0, min(60.0, 2.0**retry))
                sim.at(sim.now + wait, lambda: attempt(retry + 1))
        elif retry < LAUNCH_RETRIES:
            wait = sim.rng.randint(0, LAUNCH_DELAYS_S[retry])
            sim.at(sim.now + wait, lambda: attempt(retry + 1))
        else:
            sim.outcome("dead-lettered")

    for when in sim.arrivals():
        sim.at(when, lambda: attempt(0))
    return sim.run()


@dataclass(eq=False)
class _Task:
    launched: float
    running: bool = False
    held: int = 0
    leaving: bool = False  # in excess of the desired count, protected while it holds work
    stopped: bool = False


def queued(setup: Setup, minimum_s: float, scaler: Scaler, concurrency: int) -> Outcome:
    sim = _Sim(setup, "Queued", minimum_s)
    tasks: list[_Task] = []
    state = {"visible": 0, "inflight": 0, "left": setup.uploads, "desired": 0}
    minute = {"visible": 0, "inflight": 0, "arrived": 0}
    retry_pending = [False]

    def note() -> None:
        minute["visible"] = max(minute["visible"], state["visible"])
        minute["inflight"] = max(minute["inflight"], state["inflight"])

    def dispatch() -> None:
        for t in tasks:
            while t.running and not t.stopped and t.held < concurrency and state["visible"]:
                state["visible"] -= 1
                state["inflight"] += 1
                t.held += 1
                sim.at(sim.now + setup.processing_s, partial(finished, t))
        note()

    def finished(t: _Task) -> None:
        t.held -= 1
        state["inflight"] -= 1
        state["left"] -= 1
        sim.outcome("processed")
        if t.leaving and t.held == 0:
            stop(t)
        dispatch()

    def stop(t: _Task) -> None:
        t.stopped = True
        sim.stopped(t.launched)
        if state["left"] == 0 and all(x.stopped for x in tasks) and state["desired"] == 0:
            sim.out.idle_s = sim.now - setup.first_upload_s

    def arrive() -> None:
        state["visible"] += 1
        minute["arrived"] += 1
        dispatch()

    def started(t: _Task) -> None:
        if not t.stopped:
            t.running = True
            sim.running()
            dispatch()

    def reconcile() -> None:
        live = [t for t in tasks if not t.stopped and not t.leaving]
        for t in [t for t in tasks if t.leaving and not t.stopped]:
            if len(live) < state["desired"]:  # wanted again: ECS keeps it
                t.leaving = False
                live.append(t)
        while len(live) < state["desired"]:
            if sim.quota.run_task(setup.vcpus, service=True) is not None:
                if not retry_pending[0]:
                    retry_pending[0] = True
                    wait = max(sim.quota.next_launch_in(service=True), SERVICE_RETRY_S)
                    sim.at(sim.now + wait, retry)
                break
            t = _Task(sim.now)
            tasks.append(t)
            live.append(t)
            sim.started()
            sim.at(sim.now + setup.startup_s, partial(started, t))
        # Scale-in: idle or still-starting tasks stop now, busy ones once idle.
        excess = len(live) - state["desired"]
        for t in sorted(live, key=lambda t: (t.running and t.held > 0, t.launched)):
            if excess <= 0:
                break
            excess -= 1
            if t.held == 0:
                stop(t)
            else:
                t.leaving = True

    def retry() -> None:
        retry_pending[0] = False
        reconcile()

    def tick() -> None:
        datapoints: dict[tuple[str, str], float | None] = {
            VISIBLE: minute["visible"],
            INFLIGHT: minute["inflight"],
            # A rule's Invocations has no datapoint in a minute it delivered nothing.
            ARRIVED: minute["arrived"] or None,
        }
        minute.update(visible=state["visible"], inflight=state["inflight"], arrived=0)
        desired = scaler.tick(sim.now, datapoints, state["desired"])
        if desired != state["desired"]:
            state["desired"] = desired
            sim.out.timeline.append((sim.now, desired))
        reconcile()
        if state["left"] or state["desired"] or any(not t.stopped for t in tasks):
            sim.at(sim.now + 60.0, tick)

    for when in sim.arrivals():
        sim.at(when, arrive)
    sim.at(60.0, tick)
    return sim.run()
