"""Launch faults the local flow can simulate.

On AWS a launch fails in two ways users meet under load: ``RunTask`` answers 200 with
``failures[]`` (no Fargate capacity in the zone, an account quota), or it is throttled
(``ThrottlingException``, Fargate's launch rate). The emulator never does either, so
the local dispatcher draws them, with a given share of launch attempts each, from a
seeded generator: the same seed gives the same faults.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from ..ecs_api import CAPACITY_REASON, THROTTLED_MESSAGE, camel_to_pascal


class LaunchError(Exception):
    """A simulated fault or a refusal of the simulated account's quota (``quota.py``),
    ``kind`` "failures" or "throttling"; ``message`` replaces the default reason."""

    def __init__(self, kind: str, task_definition: str, message: str = "") -> None:
        self.kind = kind
        default = THROTTLED_MESSAGE if kind == "throttling" else CAPACITY_REASON
        self.failures = [{"arn": task_definition, "reason": message or CAPACITY_REASON}]
        super().__init__(message or default)


@dataclass
class LaunchFaults:
    """Shares (0 to 1) of launch attempts that fail like ``failures[]`` and like throttling."""

    failures: float = 0.0
    throttling: float = 0.0
    seed: int | None = None
    drawn: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for name, share in (("failures", self.failures), ("throttling", self.throttling)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(
                    f"the share of launches that fail by {name} must be 0 to 1 (got {share})"
                )
        if self.failures + self.throttling > 1.0:
            raise ValueError(
                f"the two shares add up to {self.failures + self.throttling}; at most 1 is possible"
            )
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault of one launch attempt, or None for a launch that works."""
        with self._lock:
            x = self._rng.random()
            kind = (
                "failures"
                if x < self.failures
                else "throttling"
                if x < self.failures + self.throttling
                else None
            )
            self.drawn[kind or "launched"] += 1
        return kind

    def check(self, task_definition: str) -> None:
        kind = self.draw()
        if kind is not None:
            raise LaunchError(kind, task_definition)


def failures_cause(error: LaunchError) -> str:
    """The cause ``runTask.sync`` gives when RunTask answered ``failures[]``."""
    return json.dumps({"Failures": camel_to_pascal(error.failures)})
