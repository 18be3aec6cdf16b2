"""The ECS container agent's task scale-in protection endpoint, for the local flow's
service tasks: one small HTTP server on loopback, one path per task
(``ECS_AGENT_URI`` = ``http://127.0.0.1:PORT/api/<task id>``).

As documented ("Amazon ECS task scale-in protection endpoint",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html):
``PUT $ECS_AGENT_URI/task-protection/v1/state`` with ``{"ProtectionEnabled": bool,
"ExpiresInMinutes": 1 to 2,880}`` (120 minutes when not given) sets the task's protection,
``GET`` returns it, both answering ``{"protection": {"ExpirationDate",
"ProtectionEnabled", "TaskArn"}}``. Scale-in never stops a protected task; protection
lapses after its minutes of real time (the worker's own clock: its work and the
queue's visibility timeouts run in real time).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/task-protection/v1/state"
DEFAULT_MINUTES = 120
MAX_MINUTES = 2880


@dataclass
class Protection:
    enabled: bool = False
    until: float = 0.0  # real seconds (the agent's clock): protection times real work


class Agent:
    """The endpoint of every task of a session; records each PUT in ``log``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.tasks: dict[str, str] = {}  # task id -> task ARN
        self.state: dict[str, Protection] = {}
        self.log: list[tuple[str, bool]] = []  # (task ARN, ProtectionEnabled) per PUT
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def uri(self, task_arn: str) -> str:
        """The task's ``ECS_AGENT_URI``."""
        task_id = task_arn.rsplit("/", 1)[-1]
        with self._lock:
            self.tasks[task_id] = task_arn
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/{task_id}"

    def protected(self, task_arn: str) -> bool:
        with self._lock:
            state = self.state.get(task_arn)
            return bool(state and state.enabled and state.until > self.clock())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) of one request."""
        task_id, _, rest = path.removeprefix("/api/").partition("/")
        with self._lock:
            task_arn = self.tasks.get(task_id)
        if task_arn is None or f"/{rest}" != PATH:
            return 404, {"error": {"Code": "NotFound", "Message": f"no such path {path}"}}
        if method == "PUT":
            problem = self._put(task_arn, body)
            if problem:
                return 400, {"error": {"Code": "InvalidParameterException", "Message": problem}}
        with self._lock:
            state = self.state.get(task_arn, Protection())
            enabled = state.enabled and state.until > self.clock()
            left = max(0.0, state.until - self.clock()) if enabled else 0.0
        protection: dict[str, Any] = {"ProtectionEnabled": enabled, "TaskArn": task_arn}
        if enabled:
            expires = datetime.now(UTC) + timedelta(seconds=left)
            protection["ExpirationDate"] = expires.isoformat(timespec="seconds")
        return 200, {"protection": protection}

    def _put(self, task_arn: str, body: bytes) -> str:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            return "the body is not JSON"
        enabled = request.get("ProtectionEnabled") if isinstance(request, dict) else None
        if not isinstance(enabled, bool):
            return "ProtectionEnabled (true or false) is required"
        minutes = request.get("ExpiresInMinutes", DEFAULT_MINUTES)
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            return "ExpiresInMinutes must be a whole number"
        if enabled and not 1 <= minutes <= MAX_MINUTES:
            return f"ExpiresInMinutes must be 1 to {MAX_MINUTES} (got {minutes})"
        with self._lock:
            self.state[task_arn] = Protection(enabled, self.clock() + minutes * 60)
            self.log.append((task_arn, enabled))
        return ""


def _handler(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, answer = agent.answer(method, self.path, self.rfile.read(length))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            self._reply("PUT")

        def do_GET(self) -> None:
            self._reply("GET")

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # the session reports protection itself

    return Handler
