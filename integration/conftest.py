"""Fixtures of ``make integration``: one engine for the run, the macro deployed on it, and
every case deployed once (concurrently: the engine deploys stacks in parallel)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from integration import cases, stacks
from integration.engine import ROOT, Engine, running
from integration.stacks import Outcome


@dataclass
class Run:
    """What the closing summary reports: every stack, its outcome, and the timings."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    deletes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


RUN = Run()


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    venv = Path(os.environ.get("INTEGRATION_VENV", ROOT / ".venv-integration"))
    # The engine runs in its own session, so a signal to the test run does not reach it:
    # SIGTERM becomes KeyboardInterrupt, which unwinds this fixture and stops the engine.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    with running(venv) as found:
        RUN.timings["engine ready"] = time.monotonic() - started
        yield found


@pytest.fixture(scope="session")
def prefix_list(engine: Engine) -> str:
    lists = engine.client("ec2").describe_managed_prefix_lists(
        Filters=[
            {
                "Name": "prefix-list-name",
                "Values": [f"com.amazonaws.{engine.client('ec2').meta.region_name}.s3"],
            }
        ]
    )["PrefixLists"]
    found: str = lists[0]["PrefixListId"]
    return found


@pytest.fixture(scope="session")
def macro_stack(engine: Engine) -> Outcome:
    started = time.monotonic()
    stacks.create(engine, "private-s3-processor-macro", stacks.macro_template(engine))
    outcome = stacks.wait(engine, ["private-s3-processor-macro"], started)[
        "private-s3-processor-macro"
    ]
    RUN.outcomes[outcome.name] = outcome
    return outcome


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("templates")


@pytest.fixture(scope="session")
def deployed(
    engine: Engine, macro_stack: Outcome, scratch: Path
) -> dict[str, tuple[cases.Case, Outcome]]:
    assert macro_stack.status == "CREATE_COMPLETE", macro_stack
    found = cases.all_cases(engine, scratch)
    started = time.monotonic()
    refused = stacks.create_all(engine, [(c.stack, c.text, c.parameters) for c in found])
    outcomes = stacks.wait(engine, [c.stack for c in found if c.stack not in refused], started)
    outcomes.update(refused)
    RUN.timings[f"{len(found)} stacks through the macro, created concurrently"] = (
        time.monotonic() - started
    )
    RUN.outcomes.update(outcomes)
    return {case.name: (case, outcomes[case.stack]) for case in found}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RUN.outcomes:
        return
    write = terminalreporter.write_line
    terminalreporter.section("the engine's stacks")
    for name, outcome in RUN.outcomes.items():
        deleted = RUN.deletes.get(name, "not deleted")
        reason = (
            f" ({outcome.reason[:150]})"
            if outcome.status != "CREATE_COMPLETE" and outcome.reason
            else ""
        )
        write(f"{name}: {outcome.status}{reason}, {outcome.seconds:.1f} s; {deleted}")
    for what, seconds in RUN.timings.items():
        write(f"{what}: {seconds:.1f} s")
    for note in RUN.notes:
        write(note)
