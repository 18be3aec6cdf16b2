"""Launch faults the local flow can simulate, and the shapes ECS and Step Functions use.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ECS's documented reason when Fargate has no capacity (API failure reasons).
CAPACITY_REASON = (
    "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone"
)
THROTTLED_MESSAGE = "Rate exceeded"


class LaunchError(Exception):
    """A simulated fault, ``kind`` "failures" or "throttling"."""

    def __init__(self, kind: str, task_definition: str) -> None:
        self.kind = kind
        self.failures = [{"arn": task_definition, "reason": CAPACITY_REASON}]
        super().__init__(THROTTLED_MESSAGE if kind == "throttling" else CAPACITY_REASON)


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


def _rekeyed(node: Any, first: Callable[[str], str]) -> Any:
    """``node`` with ``first`` applied to the first letter of every key, throughout."""
    if isinstance(node, dict):
        return {first(k[:1]) + k[1:]: _rekeyed(v, first) for k, v in node.items()}
    if isinstance(node, list):
        return [_rekeyed(v, first) for v in node]
    return node


def camel(node: Any) -> Any:
    """Step Functions' PascalCase parameters as the ECS API's camelCase."""
    return _rekeyed(node, str.lower)


def stopped_task(
    task_arn: str, cluster: str, task_definition: str, exit_code: int | None
) -> dict[str, Any]:
    """What ``runTask.sync`` reports of a stopped task (Step Functions' PascalCase)."""
    container: dict[str, Any] = {"Name": "worker", "LastStatus": "STOPPED", "TaskArn": task_arn}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    return {
        "TaskArn": task_arn,
        "ClusterArn": cluster,
        "TaskDefinitionArn": task_definition,
        "LastStatus": "STOPPED",
        "DesiredStatus": "STOPPED",
        "StopCode": "EssentialContainerExited",
        "StoppedReason": "Essential container in task exited",
        "Containers": [container],
    }


def failures_cause(error: LaunchError) -> str:
    return json.dumps({"Failures": camel_to_pascal(error.failures)})


def camel_to_pascal(node: Any) -> Any:
    """The ECS API's camelCase as Step Functions reports it."""
    return _rekeyed(node, str.upper)
