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

from tests.faults import FaultProxy

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


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the module's emulator (tests/faults.py)."""
    fault_proxy = FaultProxy(endpoint)
    fault_proxy.start()
    yield fault_proxy
    fault_proxy.stop()


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


# --- make test on every core (pytest-xdist, --dist loadscope) ---------------------------
# Each module runs whole on one worker: its module fixtures (an emulator, a cfn-lint or
# checkov run, a deployed stack) are set up once, and nothing of it runs beside itself.
# Modules that share files of the checkout share a worker: `make bundle` rewrites
# .aws-sam/build, which the macro-stack, release and README-deploy tests all read.
SHARED = {
    "test_macro_stack": "macro-build",
    "test_release": "macro-build",
    "test_deploy_readme": "macro-build",
}
# Long tests that share nothing but their module's emulator: each runs alone, so the two
# 1,000-upload tests can run at the same time on two cores.
ALONE = {"test_1000_uploads_with_failing_launches"}
# The longest groups start first, so that no core is left with one of them at the end.
FIRST = (
    "test_queued_load",
    "test_delivery",
    "test_guard",
    "test_security",
    "test_golden",
    "test_local",
    "test_local_queued",
    "test_local_loop",
    "test_local_queued_keep_running",
    "test_macro_stack",
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: one worker runs a unit's tests in order."""
    function = nodeid.split("::")[-1].split("[", 1)[0]
    if function in ALONE:
        return nodeid
    return SHARED.get(_module(nodeid), _module(nodeid))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest units first (every worker collects, and sorts, the same way)."""
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadscope, its units ``work_unit``'s (xdist's own loadgroup, the marker
    way, did not group anything with pytest 9.2 and xdist 3.8 here)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    # xdist would reorder the units by their number of tests, largest first: the two
    # single-test 1,000-upload units then started last, each on a core already busy.
    config.option.loadscopereorder = False

    class Units(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return Units(config, log)
