"""The worker image without a Docker engine: its Dockerfile, and its dependency set.

The dependencies the image installs (worker/requirements.txt) are installed here
the way the Dockerfile does (pip --target), and the worker runs from that folder
alone in a fresh Python 3.13 against the emulator.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from private_s3_processor_cli.local.emulator import aws_env

from tests.conftest import BUCKET, ROOT, client, find_python313, put

WORKER = ROOT / "worker"
DOCKERFILE = (WORKER / "Dockerfile").read_text(encoding="utf-8")
PINS = [
    line.strip()
    for line in (WORKER / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
# The distribution names, extras aside (boto3[crt] is boto3, with awscrt besides).
REQUIREMENTS = [re.split(r"[\[=]", pin, maxsplit=1)[0].lower() for pin in PINS]


def third_party_imports() -> set[str]:
    found = set()
    for path in (WORKER / "private_s3_worker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "private_s3_worker":
                    found.add(top)
    return found


def distribution_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with everything they require."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return seen


def test_every_import_is_installed_by_the_image_and_every_requirement_used() -> None:
    imports = third_party_imports()
    assert imports == {"boto3", "botocore"}
    providers = metadata.packages_distributions()
    closure = distribution_closure(REQUIREMENTS)
    for module in imports:
        assert {d.lower() for d in providers[module]} & closure, module
    for requirement in REQUIREMENTS:
        assert requirement in imports, f"{requirement} is installed but never imported"


def test_every_requirement_is_pinned_and_awscrt_comes_with_botocore() -> None:
    """INTEGRITY=s3 needs awscrt for CRC64NVME and CRC32C; botocore's crt extra pins it."""
    assert all(re.fullmatch(r"[\w.-]+(\[[\w,]+\])?==[\w.]+", pin) for pin in PINS), PINS
    assert "boto3[crt]" in {pin.split("==")[0] for pin in PINS}


def test_dockerfile_is_small_and_safe() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) == 2, "multi-stage: build, then a clean final stage"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert base and re.fullmatch(r"python:3\.13\.\d+-slim-\w+", base.group(1)), "pinned version"
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert "pip install" not in final and "apt-get" not in final
    assert re.search(r"^USER 10001$", final, re.M), "non-root"
    assert 'ENTRYPOINT ["python", "-m", "private_s3_worker"]' in final
    assert "--no-cache-dir" in DOCKERFILE


@pytest.fixture(scope="module")
def image_like_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    python = find_python313()
    if python is None:
        pytest.fail("no python3.13 found: the image's Python, needed to install its dependencies")
    deps = tmp_path_factory.mktemp("deps")
    run = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-cache-dir",
            "--target",
            str(deps),
            "-r",
            str(WORKER / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    yield python, deps


def image_worker(
    install: tuple[str, Path], endpoint: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m private_s3_worker`` from the image's dependency set alone."""
    python, deps = install
    full = {**aws_env(endpoint), **env, "PYTHONPATH": f"{WORKER}{os.pathsep}{deps}"}
    # -I ignores PYTHONPATH, so the paths go in by hand; -S keeps site-packages out.
    probe = (
        "import sys, os; sys.path[:0] = os.environ['PYTHONPATH'].split(os.pathsep); "
        "from private_s3_worker.__main__ import main; sys.exit(main([]))"
    )
    return subprocess.run(
        [python, "-I", "-S", "-c", probe],
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_worker_runs_from_the_image_dependency_set_alone(
    image_like_install: tuple[str, Path], endpoint: str
) -> None:
    event = put(endpoint, "in/image.csv", b"h\n1\n")
    run = image_worker(image_like_install, endpoint, **event, OUTPUT_PREFIX="out-image/")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["outcome"] == "processed"
    listed = client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix="out-image/")
    assert [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]] == ["manifest.json"]


def test_the_image_dependency_set_verifies_s3s_default_checksum(
    image_like_install: tuple[str, Path], endpoint: str
) -> None:
    """CRC64NVME, what S3 stores when an upload sent no checksum, is verified by the
    image's botocore (awscrt installed), not skipped."""
    event = put(endpoint, "in/image-crc64.bin", b"z" * 5000, ChecksumAlgorithm="CRC64NVME")
    run = image_worker(image_like_install, endpoint, **event, INTEGRITY="s3")
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads(run.stdout.splitlines()[-1])["integrity"]
    assert (record["method"], record["algorithm"]) == ("s3", "CRC64NVME"), record
