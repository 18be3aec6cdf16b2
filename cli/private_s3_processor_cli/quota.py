"""The account's Fargate launch quotas, simulated, so that every delivery mode meets the
same limits in the local flow and in the burst benchmark.

Three limits, per account and Region, each with the answer ``RunTask`` gives when it is
exceeded (``Refusal.kind`` uses the local flow's ``LaunchError`` kinds, so a mode reacts
to the quota exactly as it reacts to a simulated fault):

- Fargate's task-launch token bucket: 100 tokens, refilled at 20 per second; each task
  launched takes one ("Fargate Resource rate quota for On Demand Amazon ECS tasks",
  ECS developer guide, "AWS Fargate throttling quotas",
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html). That
  page names the rate but not the error; a rate quota of the ECS API answers
  ``ThrottlingException`` "Rate exceeded" (ECS API reference, "Request throttling for
  the Amazon ECS API": "If you exceed an API throttling quota, you get the
  ThrottlingException error code"), and that is what a burst of one-task RunTask calls
  meets in practice (paradisec-archive/nabu#1260: ThrottlingException on 38 % of
  RunTask calls during a burst). Kind "throttling".
- ``RunTask`` itself: 20 calls per second, "burst and sustained" (the same page,
  "Throttling the RunTask API in Fargate"), a separate bucket; exceeded, the call is
  refused with ``ThrottlingException`` (API reference above). Kind "throttling". A
  service's tasks are placed by the ECS scheduler, not by the caller's RunTask calls,
  so ``run_task(..., service=True)`` takes only a launch token.
- Concurrent vCPUs: "Fargate On-Demand vCPU resource count", default 6 per Region,
  adjustable (AWS General Reference, "Amazon ECS endpoints and quotas",
  https://docs.aws.amazon.com/general/latest/gr/ecs-service.html; the AWS Batch API
  reference repeats "The default for the Fargate On-Demand vCPU resource count quota is
  6 vCPUs"). Exceeded, RunTask answers 200 with ``tasks: []`` and the reason in
  ``failures[]`` (paradisec-archive/nabu#1260: "Fargate vCPU limit — tasks: [] with the
  reason in failures[]"): "You've reached the limit on the number of vCPUs you can run
  concurrently", the text the ECS developer guide gives for the same quota in its
  service event messages ("Amazon ECS service event messages"). Kind "failures".

A refused call takes no token (a token bucket admits or refuses). Time is whatever
``clock()`` returns, in simulated seconds: nothing here sleeps.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .ecs_api import THROTTLED_MESSAGE

VCPU_REASON = "You've reached the limit on the number of vCPUs you can run concurrently"
# The documented default of "Fargate On-Demand vCPU resource count" (see above).
DEFAULT_VCPU_QUOTA = 6.0
# Slack for float sums of vCPUs (0.25 + 0.25 + ...), far below any task size.
_EPSILON = 1e-9


@dataclass(frozen=True)
class QuotaLimits:
    """The account's limits; the defaults are AWS's documented defaults."""

    launch_burst: int = 100
    launch_rate: float = 20.0  # tokens per second
    run_task_rate: float = 20.0  # calls per second, burst and sustained
    vcpu_quota: float = DEFAULT_VCPU_QUOTA

    def __post_init__(self) -> None:
        for name in ("launch_burst", "launch_rate", "run_task_rate", "vcpu_quota"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"quota {name} must be a number (got {value!r})")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"quota {name} must be a positive number (got {value})")
        if self.launch_burst < 1:
            raise ValueError(f"quota launch_burst must be at least 1 (got {self.launch_burst})")


@dataclass(frozen=True)
class Refusal:
    """Why a launch did not happen: ``kind`` "throttling" (RunTask raised
    ThrottlingException) or "failures" (RunTask answered 200 with failures[])."""

    kind: str
    message: str


class _Bucket:
    """A token bucket: ``capacity`` tokens, refilled continuously at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens, self.last = capacity, now

    def refill(self, now: float) -> None:
        # A clock that steps back refills nothing (it never takes tokens away).
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def ready(self) -> bool:
        return self.tokens >= 1.0 - _EPSILON

    def take(self) -> None:
        self.tokens -= 1.0

    def wait(self) -> float:
        """Seconds until one token is there."""
        return 0.0 if self.ready() else (1.0 - self.tokens) / self.rate


class Quota:
    """The account's quotas, shared by every caller; thread-safe."""

    def __init__(self, limits: QuotaLimits, clock: Callable[[], float]) -> None:
        self.limits, self._clock = limits, clock
        now = clock()
        self._calls = _Bucket(limits.run_task_rate, limits.run_task_rate, now)
        self._launches = _Bucket(limits.launch_burst, limits.launch_rate, now)
        self._vcpus = 0.0
        self._lock = threading.Lock()
        # "calls" (RunTask calls), "launched", "throttled" (of which "throttled_calls"
        # by the RunTask rate and "throttled_launches" by the launch bucket), "vcpu"
        # (refused by the vCPU quota), "stopped".
        self.counts: Counter[str] = Counter()

    def run_task(self, vcpus: float, *, service: bool = False) -> Refusal | None:
        """One task of ``vcpus`` launched (None: its vCPUs are now held until
        ``task_stopped``) or refused. ``service``: placed by an ECS service's scheduler,
        which makes no RunTask call of the caller's."""
        _check_vcpus(vcpus)
        with self._lock:
            now = self._clock()
            self._calls.refill(now)
            self._launches.refill(now)
            if not service:
                if not self._calls.ready():
                    self.counts["throttled"] += 1
                    self.counts["throttled_calls"] += 1
                    return Refusal("throttling", THROTTLED_MESSAGE)
                self._calls.take()
                self.counts["calls"] += 1
            if not self._launches.ready():
                self.counts["throttled"] += 1
                self.counts["throttled_launches"] += 1
                return Refusal("throttling", THROTTLED_MESSAGE)
            if self._vcpus + vcpus > self.limits.vcpu_quota + _EPSILON:
                self.counts["vcpu"] += 1
                return Refusal("failures", VCPU_REASON)
            self._launches.take()
            self._vcpus += vcpus
            self.counts["launched"] += 1
            return None

    def task_stopped(self, vcpus: float) -> None:
        """A task launched by ``run_task`` stopped: its vCPUs are free again."""
        _check_vcpus(vcpus)
        with self._lock:
            if vcpus > self._vcpus + _EPSILON:
                raise ValueError(
                    f"a stopped task releases {vcpus} vCPUs but only {self._vcpus:g} are held"
                )
            self._vcpus = max(0.0, self._vcpus - vcpus)
            self.counts["stopped"] += 1

    @property
    def running_vcpus(self) -> float:
        with self._lock:
            return self._vcpus

    def next_launch_in(self, *, service: bool = False) -> float:
        """Simulated seconds until a launch would not be throttled (0 now): what a
        caller that waits rather than polls needs. The vCPU quota is not a wait."""
        with self._lock:
            now = self._clock()
            self._calls.refill(now)
            self._launches.refill(now)
            waits = [self._launches.wait()]
            if not service:
                waits.append(self._calls.wait())
            return max(waits)


def _check_vcpus(vcpus: float) -> None:
    if isinstance(vcpus, bool) or not isinstance(vcpus, int | float):
        raise ValueError(f"a task's vCPUs must be a number (got {vcpus!r})")
    if not math.isfinite(vcpus) or vcpus <= 0:
        raise ValueError(f"a task's vCPUs must be a positive number (got {vcpus})")
