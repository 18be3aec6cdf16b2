"""Queue mode's settings, read and checked from the environment (the task definition's
static environment: README, "Queue mode")."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .config import ConfigError, integrity_mode

# SQS ReceiveMessage: MaxNumberOfMessages 1-10, WaitTimeSeconds 0-20; a visibility timeout
# is 0-43,200 s (12 hours), and ChangeMessageVisibility cannot take a message past 12
# hours of visibility counted from its receipt (Amazon SQS API Reference, ReceiveMessage
# and ChangeMessageVisibility).
MAX_BATCH = 10
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 43_200


@dataclass(frozen=True)
class QueueSettings:
    queue_url: str
    concurrency: int  # objects in flight per task
    visibility_s: int  # what the heartbeat extends to; the queue's VisibilityTimeout
    stop_timeout_s: int  # the container's stopTimeout: SIGTERM to SIGKILL
    wait_s: int  # long poll
    retry_s: int  # first retry delay after a failure, doubled per receive
    idle_exit_s: float | None  # exit after this long idle (local flow, tests); None = never
    agent_uri: str | None  # ECS_AGENT_URI, injected by the ECS agent into every container

    @property
    def stop_margin_s(self) -> float:
        """Kept back from the stop timeout to release what is still in flight and clear
        protection: a few SQS calls, each retried by botocore within seconds."""
        return min(10.0, self.stop_timeout_s / 4)

    @property
    def heartbeat_after_s(self) -> float:
        """A message's visibility is extended once half of it has passed."""
        return self.visibility_s / 2

    @property
    def protection_minutes(self) -> int:
        """Task protection lasts as long as a message's visibility (whole minutes, at
        least 1): if the worker cannot renew it for that long, its messages are back on
        the queue anyway, and protecting a stuck task longer would only keep it alive."""
        return max(1, math.ceil(self.visibility_s / 60))

    def retry_delay_s(self, receive_count: int) -> int:
        """min(visibility, retry x 2^(receive_count - 1)): the Addendum's retry delay."""
        doubled: int = self.retry_s << min(max(receive_count - 1, 0), 20)
        return min(self.visibility_s, doubled)


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
    return int(raw)


def from_environment(env: Mapping[str, str] | None = None) -> QueueSettings:
    env = os.environ if env is None else env
    url = env.get("QUEUE_URL", "").strip()
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"QUEUE_URL must be the queue's URL (got {url!r})")
    idle = _integer(env, "QUEUE_IDLE_EXIT_SECONDS", 0, 0, 86_400)
    # Read again for each message (event.from_event); checked here too, so a bad value
    # stops the task at once (exit 78) instead of failing every message to the DLQ.
    integrity_mode(env)
    return QueueSettings(
        queue_url=url,
        concurrency=_integer(env, "QUEUE_CONCURRENCY", 4, 1, 64),
        # 1 s and up, not the property's 30: the tests use short timeouts.
        visibility_s=_integer(env, "QUEUE_VISIBILITY_TIMEOUT", 300, 1, MAX_VISIBILITY_S),
        # 120 s is Fargate's largest stopTimeout; 30 s its default (ECS container
        # definition, stopTimeout).
        stop_timeout_s=_integer(env, "QUEUE_STOP_TIMEOUT", 30, 1, 3_600),
        wait_s=_integer(env, "QUEUE_WAIT_SECONDS", MAX_WAIT_S, 0, MAX_WAIT_S),
        retry_s=_integer(env, "QUEUE_RETRY_SECONDS", 30, 0, MAX_VISIBILITY_S),
        idle_exit_s=float(idle) if env.get("QUEUE_IDLE_EXIT_SECONDS", "").strip() else None,
        agent_uri=env.get("ECS_AGENT_URI") or None,
    )
