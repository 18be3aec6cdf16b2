"""ECS task scale-in protection, held while the task has work in flight.

The ECS container agent serves ``$ECS_AGENT_URI/task-protection/v1/state``: a PUT with
``{"ProtectionEnabled": true, "ExpiresInMinutes": N}`` protects the task from scale-in
(service auto scaling and deployments) for N minutes, 1 to 2,880 (2 hours when omitted);
``{"ProtectionEnabled": false}`` clears it (Amazon ECS Developer Guide, "Protect your
Amazon ECS tasks from being terminated by scale-in events" and "Amazon ECS task scale-in
protection endpoint"). The agent answers ``{"protection": {"ProtectionEnabled",
"ExpirationDate", "TaskArn"}}`` on success, ``{"failure": {"Arn", "Reason", "Detail"}}``
when ECS refused, ``{"error": {"Code", "Message"}}`` otherwise (the agent's
``TaskProtectionResponse``, aws/amazon-ecs-agent). A PUT while protected resets the expiry,
so renewing is the same call (ECS API Reference, UpdateTaskProtection).

Errors are logged and never stop the worker: without protection a scale-in sends SIGTERM,
which the worker handles (finish or release), so nothing is lost, only redone.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from . import log

PATH = "/task-protection/v1/state"
MAX_MINUTES = 2880
RETRY_AFTER_ERROR_S = 10.0  # the agent calls ECS (with a 4 s timeout) on every PUT
TIMEOUT_S = 10.0


class Protection:
    """Set when work starts, renewed at half its life while busy, cleared when idle."""

    def __init__(self, agent_uri: str | None, minutes: int) -> None:
        self.url = agent_uri.rstrip("/") + PATH if agent_uri else None
        self.minutes = max(1, min(minutes, MAX_MINUTES))
        self._lock = threading.Lock()
        self._wanted = False  # busy: protection should be on
        self._on = False  # the agent last confirmed "enabled" (or a clear failed)
        self._renew_at = 0.0  # monotonic time of the next PUT while busy
        if self.url is None:
            log.emit(
                "no-protection",
                reason="ECS_AGENT_URI is not set (not in an ECS task): scale-in protection "
                "is not requested",
            )

    def busy(self) -> None:
        """Work is in flight: protect the task, unless it is and the protection is fresh."""
        with self._lock:
            self._wanted = True
            if time.monotonic() >= self._renew_at:
                self._put(True)

    def renew(self) -> None:
        """Called by the heartbeat: renews the protection before it expires."""
        with self._lock:
            if self._wanted and time.monotonic() >= self._renew_at:
                self._put(True)

    def idle(self) -> None:
        """Nothing in flight and nothing received: let scale-in stop this task."""
        with self._lock:
            self._wanted = False
            if self._on:
                self._put(False)

    def _put(self, enabled: bool) -> None:
        if self.url is None:
            return
        body: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self.minutes
        now = time.monotonic()
        error = _call(self.url, body)
        if error is None:
            self._on = enabled
            # Renewed at half its life: the other half absorbs an agent that is slow or
            # briefly failing (each failure is retried RETRY_AFTER_ERROR_S later).
            self._renew_at = now + self.minutes * 30.0 if enabled else 0.0
            fields = {"expires_in_minutes": self.minutes} if enabled else {}
            log.emit("protection", enabled=enabled, **fields)
        else:
            self._on = True  # unknown: a later idle() clears it again
            self._renew_at = now + RETRY_AFTER_ERROR_S
            log.emit("protection", enabled=enabled, error=error)


def _call(url: str, body: dict[str, Any]) -> str | None:
    """PUT ``body``; None on success, else one line saying what went wrong."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        return f"agent answered HTTP {exc.code}: {_detail(exc.read())}"
    except (OSError, ValueError) as exc:
        return f"agent unreachable: {type(exc).__name__}: {exc}"
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        return f"agent answered something that is not JSON: {raw[:200]!r}"
    if isinstance(answer, dict) and ("failure" in answer or "error" in answer):
        return f"agent refused: {_detail(raw)}"
    return None


def _detail(raw: bytes) -> str:
    return raw[:300].decode("utf-8", errors="replace").replace("\n", " ")
