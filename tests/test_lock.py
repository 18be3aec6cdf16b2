"""The macro Lambda's dependency lock (macros/requirements.txt, `make lock`): the one file
`sam build` installs from and .venv is constrained by, so the macro that deploys is the
macro these tests imported. The bundle's side is checked in test_macro_stack.py."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from tests.conftest import ROOT
from tests.macro_build import LOCK, lock_pins


def test_venv_holds_the_locked_versions() -> None:
    """The tests import the macro from .venv: the Makefile installs it with the lock's pins
    as constraints, so what was tested here is what the bundle contains."""
    pins = lock_pins(LOCK.read_text(encoding="utf-8"))
    installed = {name: metadata.version(name) for name in pins}
    assert installed == pins


def test_the_lock_is_hashed_and_portable() -> None:
    """Every pin carries hashes (`sam build` then runs pip in hash-checking mode: a
    tampered or substituted file fails the build), and no index or path of this machine."""
    text = LOCK.read_text(encoding="utf-8")
    blocks = [b for b in re.split(r"\n(?=\S)", text) if not b.startswith("#")]
    assert len(blocks) == len(lock_pins(text)) > 0
    assert all(re.search(r"^\s+--hash=sha256:[0-9a-f]{64}", b, re.MULTILINE) for b in blocks)
    assert not re.search(r"^-|file:|/tmp/|/home/|/root/", text, flags=re.MULTILINE)


def test_lock_ranges_are_pyprojects() -> None:
    """macros/requirements.in (what `make lock` pins) states the same ranges as pyproject."""
    wanted = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "macros" / "requirements.in").read_text(encoding="utf-8").splitlines()
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = set(project["dependencies"])
    assert [w for w in wanted if w] and {w for w in wanted if w} <= declared
