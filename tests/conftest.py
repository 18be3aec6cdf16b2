"""Shared fixtures: real-shaped payloads from shared/events and the golden cases."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

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
    env_dir = os.environ.get("CHECKOV_VENV", str(ROOT / ".venv-checkov"))
    candidates = [ROOT / ".venv" / "bin" / name, Path(env_dir) / "bin" / name]
    for c in candidates:
        if c.exists():
            return str(c)
    raise FileNotFoundError(
        f"{name} is not installed in {', '.join(str(c.parent) for c in candidates)}; "
        "run the tests through `make test`, which installs it"
    )
