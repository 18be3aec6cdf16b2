"""Shared fixtures: real-shaped payloads from shared/events and the golden cases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_s3_processor_cli.local.emulator import moto_server

ROOT = Path(__file__).resolve().parent.parent
# The project keeps its own copy of the shared payloads so a clone is self-contained.
EVENTS = ROOT / "tests" / "events"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def macro_request() -> dict[str, Any]:
    return load_event("macro-request.json")


@pytest.fixture
def s3_event() -> dict[str, Any]:
    return load_event("s3-object-created.json")


def tool(name: str) -> str:
    """Path of a tool the Makefile installs into a virtual environment."""
    env_dir = os.environ.get("TOOLS_VENV", str(ROOT / ".venv-tools"))
    candidates = [ROOT / ".venv" / "bin" / name, Path(env_dir) / "bin" / name]
    for c in candidates:
        if c.exists():
            return str(c)
    raise FileNotFoundError(
        f"{name} is not installed in {', '.join(str(c.parent) for c in candidates)}; "
        "run the tests through `make test`, which installs it"
    )


def find_python313() -> str | None:
    """A working Python 3.13 (a pyenv shim can exist and still not run)."""
    candidates = [os.environ.get("PY313", ""), shutil.which("python3.13") or ""]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    for candidate in filter(None, candidates):
        run = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode == 0 and run.stdout.strip():
            return run.stdout.strip()
    return None


BUCKET = "worker-tests"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty moto server for one test module (the local-flow tests create stacks)."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def quiet(message: str) -> None:
    """A progress callback that prints nothing."""
    del message


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        s3 = client(url)
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield url


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def put(endpoint: str, key: str, body: bytes, **extra: Any) -> dict[str, str]:
    """Upload like a user, and return the event's view of it (what EventBridge passes)."""
    answer = client(endpoint).put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return {
        "S3_BUCKET": BUCKET,
        "S3_KEY": key,
        "S3_SIZE": str(len(body)),
        "S3_ETAG": answer["ETag"].strip('"'),
        "S3_VERSION_ID": answer["VersionId"],
    }


def cli(*args: str, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess[str]:
    """``private-s3-processor ARGS`` as a user runs it: a process of its own, in the project
    (``popen``: more of ``subprocess.run``'s arguments, such as ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "private_s3_processor_cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=ROOT,
        **popen,
    )
