"""The moto server as the local AWS, started on a free loopback port (tests, benchmarks,
and the local flow): its credentials and region, clients for it, and stopping it."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from .model import LocalError

# moto finds the bucket of an S3 URL from its path only when the host is "localhost"
# (with 127.0.0.1 it takes "127" for the bucket name): see DESIGN.md.
HOST = "localhost"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
}
REGION = CREDENTIALS["AWS_REGION"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The moto servers this process started and has not stopped yet (see stop_all).
_RUNNING: set[subprocess.Popen[bytes]] = set()


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto server process; yields its endpoint URL and stops it afterwards.

    It runs in a session of its own: a Ctrl-C typed in the terminal reaches the whole
    foreground process group, and the server must outlive that signal so that the
    process that started it can finish its work, print its summary and then stop it."""
    port = free_port()
    # moto's server, its directory listing taken once (moto_server.py). -P: nothing is
    # imported from the working directory (a responses.py there would shadow moto's
    # dependency), as with the moto_server script.
    moto = [sys.executable, "-P", "-m", f"{__package__}.moto_server"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*moto, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _RUNNING.add(proc)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _RUNNING.discard(proc)


def stop_all() -> None:
    """Terminate every moto server this process started (an immediate stop, from a
    signal handler: the servers run in sessions of their own, so nothing else would)."""
    for proc in list(_RUNNING):
        proc.terminate()


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment a real AWS client needs to talk to the emulator only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = endpoint
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def is_emulator(endpoint: str) -> bool:
    """Whether a moto server answers at ``endpoint``."""
    try:
        urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/", timeout=2).close()
    except OSError:
        return False
    return True


def clients(endpoint: str) -> dict[str, Any]:
    """A client of each service the local flow calls, talking to the emulator only."""
    env = aws_env(endpoint)
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in (
            "s3",
            "sqs",
            "events",
            "cloudformation",
            "ecs",
            "ec2",
            "stepfunctions",
            "application-autoscaling",
            "cloudwatch",
        )
    }


# What `pip install 'private-s3-processor[local]'` adds to the base install: moto
# (the EventBridge pattern matcher, the server) and the server's web framework.
LOCAL_EXTRA = ("moto", "flask")
NO_LOCAL_EXTRA = (
    "the local flow runs on the moto server, which this install lacks: "
    "install 'private-s3-processor[local]'"
)


def has_local_extra() -> bool:
    """Whether the ``[local]`` extra is installed (found without importing it)."""
    for name in LOCAL_EXTRA:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except ImportError:
            return False
    return True


@contextmanager
def emulator_at(endpoint_url: str | None, log: Path) -> Iterator[str]:
    """The emulator at ``endpoint_url``, or a new moto server on a free loopback port."""
    if not has_local_extra():
        raise LocalError(NO_LOCAL_EXTRA)
    if endpoint_url:
        if not is_emulator(endpoint_url):
            raise LocalError(
                f"no moto server answers at {endpoint_url} (is it running, and is that its port?)"
            )
        yield endpoint_url
        return
    try:
        with moto_server(log) as url:
            yield url
    except RuntimeError as exc:
        raise LocalError(str(exc)) from exc
