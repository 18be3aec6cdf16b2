"""Golden files: every input expands to exactly its reviewed output (or error)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import tool
from tests.golden import cases


def test_there_are_enough_cases() -> None:
    assert len(cases.success_names()) >= 15
    assert len(cases.error_names()) >= 15


@pytest.mark.parametrize("name", cases.success_names())
def test_success_case(name: str) -> None:
    result = cases.run(name)
    assert "errorMessage" not in result, result.get("errorMessage")
    assert result == cases.expected(name), f"run `make golden` and review the diff of {name}"


@pytest.mark.parametrize("name", cases.error_names())
def test_error_case(name: str) -> None:
    result = cases.run(name)
    assert "errorMessage" in result, f"{name} expanded without error"
    assert result == cases.expected(name)


def test_expected_outputs_pass_cfn_lint() -> None:
    """cfn-lint over every expected success output: no errors and no warnings."""
    files = [str(cases.OUTPUT / f"{n}.json") for n in cases.success_names()]
    run = subprocess.run([tool("cfn-lint"), *files], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_no_stale_outputs() -> None:
    """Every expected output belongs to an input (a renamed case leaves none behind)."""
    outputs = {p.stem for p in cases.OUTPUT.glob("*.json")}
    assert outputs == set(cases.names())
