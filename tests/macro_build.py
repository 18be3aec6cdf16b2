"""The macro stack as a user builds it: ``make bundle`` (template.py, then ``sam build``
reading samconfig.toml into .aws-sam/build, then the StackSet zip), run once per test
session, so the tests check the very build that ``sam deploy`` and StackSets deploy."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, find_python313

SAM_BUILD = ROOT / ".aws-sam" / "build"
BUNDLE_ZIP = ROOT / "build" / "macro-bundle.zip"
LOCK = ROOT / "macros" / "requirements.txt"
# The virtual environment's stamps: a test must not reinstall the environment it runs in.
VENV_STAMPS = (".venv/.installed", ".venv/.installed-runtime")


def sam_env() -> dict[str, str]:
    """sam needs the Lambda runtime's Python (3.13) on PATH to build for it."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    python313 = find_python313()
    if python313 is None:
        pytest.fail(
            "no working python3.13 found: sam build for the python3.13 runtime needs "
            "it (the Makefile looks on PATH and in pyenv; set PY313=/path/to/it)"
        )
    env["PATH"] = f"{Path(python313).parent}{os.pathsep}{env['PATH']}"
    return env


@functools.cache
def make_bundle() -> Path:
    """``make bundle`` from the repository root; returns .aws-sam/build."""
    old = [arg for stamp in VENV_STAMPS for arg in ("-o", stamp)]
    run = subprocess.run(
        ["make", "--no-print-directory", *old, "bundle"],
        capture_output=True,
        text=True,
        check=False,
        env=sam_env(),
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return SAM_BUILD


def lock_pins(text: str) -> dict[str, str]:
    """``name==version`` of every requirement in a pip-compile lock, names normalized."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", text, flags=re.MULTILINE)
    return {normalize(name): version for name, version in pins}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()
