"""The second CloudFormation engine: LocalStack's community runtime, started on loopback.

``make integration`` builds its environment (``.venv-integration``, Python 3.13, from
``integration/requirements.txt`` plus ``integration/engine_plugins``); this module starts
it as one process group, waits until it answers, hands out boto3 clients, and on stop
ends the whole group (the engine and any Lambda process it started) and proves nothing
of it is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
# The engine's one account; its IAM is not enforced, so the key pair is any.
ACCOUNT = "000000000000"
READY_WITHIN = 90.0
STOP_WITHIN = 20.0
# The engine's own settings (LocalStack's configuration reference), each for a reason:
SETTINGS = {
    # hypercorn binds what GATEWAY_LISTEN says; the default server binds every interface.
    "GATEWAY_SERVER": "hypercorn",
    # No DNS server of its own (it would want port 53), no certificate download (no
    # network here), no usage events sent anywhere.
    "DNS_ADDRESS": "0",
    "SKIP_SSL_CERT_DOWNLOAD": "1",
    "DISABLE_EVENTS": "1",
    # Lambda runs as host processes (engine_plugins/host_lambda.py): no Docker engine.
    "LAMBDA_RUNTIME_EXECUTOR": "host",
    # This machine may itself be a container; the engine would then write to
    # /var/lib/localstack. Host mode keeps everything under FILESYSTEM_ROOT.
    "OVERRIDE_IN_DOCKER": "0",
    # Types without a provider deploy as placeholders (said, not silent: the warning
    # about the default goes away, and the checks list every placeholder).
    "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1",
    "AWS_DEFAULT_REGION": REGION,
}
KEPT = ("PATH", "HOME", "LANG", "LC_ALL")


class EngineError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Engine:
    def __init__(self, venv: Path, workdir: Path) -> None:
        # Absolute but not resolved: the venv's python is a symlink, and resolving it would
        # leave the venv. The engine runs in its own working directory.
        self.python = (ROOT / venv / "bin" / "python").absolute()
        if not self.python.exists():
            raise EngineError(f"no engine environment at {venv}: run `make integration`")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Kept after the run (build/ is the project's output folder) for whoever debugs it.
        self.log_path = ROOT / "build" / "integration" / "engine.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        root = self.workdir / "filesystem"
        root.mkdir(parents=True, exist_ok=True)
        env = {k: os.environ[k] for k in KEPT if k in os.environ}
        env.update(SETTINGS)
        if os.environ.get("INTEGRATION_ENGINE_DEBUG"):
            # The engine's tracebacks in build/integration/engine.log.
            env.update(DEBUG="1", CFN_VERBOSE_ERRORS="1")
        env.update(
            GATEWAY_LISTEN=f"127.0.0.1:{self.port}",
            FILESYSTEM_ROOT=str(root),
            TMPDIR=str(root),
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(
                    f"the engine exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.25)
        self.stop()
        raise EngineError(
            f"the engine did not answer within {READY_WITHIN:.0f} s:\n{self.log_tail()}"
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> list[int]:
        """End the engine's process group; return the PIDs still alive after (none)."""
        if self.process is None:
            return []
        group = self.process.pid
        for sig, wait in ((signal.SIGTERM, STOP_WITHIN), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not group_members(group):
                break
        else:
            self.process.wait(timeout=5)
        for _ in range(20):
            if not group_members(group):
                break
            time.sleep(0.1)
        left = group_members(group)
        if not left:
            # Stopped: a second stop must not signal a process group ID the system may
            # since have given to someone else.
            self.process = None
        return left

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            # No retries: a retried CreateStack whose first try failed inside the engine
            # answers "already exists" and hides the first error.
            config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
        )


def group_members(group: int) -> list[int]:
    """PIDs whose process group is ``group`` (Linux /proc; elsewhere ``killpg`` probes)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        return [group]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@contextmanager
def running(venv: Path) -> Iterator[Engine]:
    """The engine for a ``with`` block; on leaving it (an error, Ctrl-C, or SIGTERM, which
    the caller turns into KeyboardInterrupt) its whole process group is ended, checked."""
    with tempfile.TemporaryDirectory(prefix="private-s3-processor-engine-") as scratch:
        engine = Engine(venv, Path(scratch))
        try:
            engine.start()
            yield engine
        finally:
            left = engine.stop()
            if left:
                raise EngineError(f"engine processes left after stop: {left}")
