"""The caller's side of the fork server (``forkserver.py``, which says why and how):
``ForkServer`` starts one and asks it for workers, each a ``ForkedWorker`` used like
``subprocess.Popen``; ``forks`` and ``ForkServer.serves`` decide which tasks it may
serve."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from .forkserver import HEADER, WORKER

# Read once, as the interpreter (or the dynamic loader, or a module the server has
# imported) starts: a fork cannot take the task's values of these, so a task whose values
# differ gets a fresh interpreter. PYTHONPATH decides which copies of the worker and
# botocore are imported; TZ is read when `time` is imported; BOTO_DISABLE_CRT when
# botocore is.
STARTUP = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "BOTO_DISABLE_CRT")
STARTUP_PREFIXES = ("PYTHON", "LD_")
READY_TIMEOUT_S = 60.0
FRESH = "PRIVATE_S3_PROCESSOR_FRESH_WORKERS"  # set: every worker a fresh interpreter


def forks(command: list[str]) -> bool:
    """Whether ``command`` is the worker a fork server can start."""
    return command[:3] == [sys.executable, "-m", WORKER]


def startup_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What of ``env`` is read as a worker's process starts (``STARTUP``)."""
    return {k: v for k, v in env.items() if k.startswith(STARTUP_PREFIXES) or k in STARTUP}


class ForkedWorker:
    """A worker the server forked, used like ``subprocess.Popen`` (text mode): ``pid``,
    ``stdout``/``stderr``, ``poll``, ``wait``, ``communicate``, ``kill``,
    ``send_signal``, and ``with``."""

    def __init__(
        self, args: list[str], pid: int, stdout: io.TextIOWrapper, stderr: io.TextIOWrapper
    ) -> None:
        self.args = args
        self.pid = pid
        self.stdout: io.TextIOWrapper | None = stdout
        self.stderr: io.TextIOWrapper | None = stderr
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        # Only while the server has not reaped it: after that the pid may be another's.
        if self.returncode is None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Both streams to their end, then the exit status (TimeoutExpired as Popen)."""
        results: dict[str, str] = {}

        def read(name: str, stream: io.TextIOWrapper | None) -> None:
            results[name] = stream.read() if stream is not None else ""

        readers = [
            threading.Thread(target=read, args=("out", self.stdout), daemon=True),
            threading.Thread(target=read, args=("err", self.stderr), daemon=True),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(timeout)
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        return results["out"], results["err"]

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


class ForkServerError(Exception):
    """The server could not start (the caller then starts fresh interpreters)."""


class ForkServer:
    """The caller's handle on one server process (its working directory fixed)."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        """A server for workers in ``cwd`` whose process would start with ``env``'s
        startup variables (its PYTHONPATH as ``run_worker`` builds it: ``cwd`` first).
        No AWS_* variable reaches it: its warm-up must not read the user's profile
        (a broken one would cost every task its fork), and a task has its own."""
        self.cwd = cwd
        server_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        self.startup = startup_environment(server_env)
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.forkserver", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=server_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Ctrl-C at `local` reaches neither it nor (as before) the workers.
            start_new_session=True,
        )
        theirs.close()
        self._sock = ours
        self._lines = ours.makefile("r", encoding="utf-8")
        self._lock = threading.Lock()  # one request at a time
        self._spawned: list[int] = []
        self._reply = threading.Condition()
        self._workers: dict[int, ForkedWorker] = {}
        self._early: dict[int, int] = {}
        self.alive = True
        ours.settimeout(READY_TIMEOUT_S)
        try:
            first = json.loads(self._lines.readline() or "{}")
        except (OSError, ValueError) as exc:
            self.close()
            raise ForkServerError(f"the fork server did not start: {exc}") from exc
        if not first.get("ready"):
            self.close()
            raise ForkServerError(f"the fork server did not start: {first.get('error', 'ended')}")
        ours.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def serves(self, env: Mapping[str, str], cwd: Path) -> bool:
        """Whether a task with ``env`` in ``cwd`` can be forked, not started fresh. An
        environment no process can hold (a NUL) is left to the fresh start, which refuses
        it as before (tests/test_keys.py, the NUL key)."""
        return (
            self.alive
            and cwd == self.cwd
            and startup_environment(env) == self.startup
            and not any("\0" in k or "\0" in v for k, v in env.items())
        )

    def start(self, command: list[str], env: Mapping[str, str]) -> ForkedWorker:
        """Fork ``command`` (``python -m private_s3_worker ...``, see ``forks``) with
        ``env``; the worker, its pipes open for reading."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = {"args": command[3:], "env": dict(env), "cwd": str(self.cwd)}
        payload = json.dumps(request).encode()
        try:
            with self._lock, self._reply:
                socket.send_fds(self._sock, [HEADER.pack(len(payload)) + payload], [out_w, err_w])
                while not self._spawned and self.alive:
                    self._reply.wait()
                if not self._spawned:
                    raise ForkServerError("the fork server has ended")
                pid = self._spawned.pop(0)
                # Text, as Popen's text=True reads; the worker owns and closes them.
                streams = open(out_r), open(err_r)  # noqa: SIM115
                worker = ForkedWorker(command, pid, *streams)
                if pid in self._early:  # it has already ended and been reaped
                    worker._exited(self._early.pop(pid))
                else:
                    self._workers[pid] = worker
        except BaseException:
            for fd in (out_r, err_r):
                with suppress(OSError):
                    os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w):
                os.close(fd)
        return worker

    def _read(self) -> None:
        for line in self._lines:
            message = json.loads(line)
            with self._reply:
                if "spawned" in message:
                    self._spawned.append(int(message["spawned"]))
                    self._reply.notify_all()
                elif "exited" in message:
                    pid, code = int(message["exited"]), int(message["status"])
                    worker = self._workers.pop(pid, None)
                    if worker is None:
                        self._early[pid] = code  # ended before start() registered it
                    else:
                        worker._exited(code)
        # The server is gone (killed, or closed) and can no longer reap or report its
        # children: each one still running is killed, so the status given is the truth.
        with self._reply:
            self.alive = False
            self._reply.notify_all()
            for worker in self._workers.values():
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker._exited(-signal.SIGKILL)
            self._workers.clear()

    def close(self) -> None:
        self.alive = False
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
