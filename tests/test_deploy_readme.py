"""The README's deploy commands, exactly as typed, from the repository root.

Each ``sam deploy --guided`` line of the README's "### One account" section runs
against the moto server, answering every prompt on standard input, up to SAM's
managed-bucket step (where moto stops it: DESIGN.md, "sam deploy against the
emulator"). The test checks that samconfig.toml is found and that SAM asks what the
README's prompt table says, in its order, with its defaults, so the README cannot
drift from what SAM does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from private_s3_processor_cli.local.emulator import aws_env

from tests.conftest import ROOT
from tests.macro_build import make_bundle, sam_env

README = ROOT / "README.md"
SAMCONFIG = ROOT / "samconfig.toml"
# click's prompt: a tab, the question, its default in brackets, ": ".
PROMPT = re.compile(r"\t([^\t\n\[\]#]+?) \[([^\]\n]*)\]: ")
CONFIG_FOUND = re.compile(r"Looking for config file \[([^\]]+)\] :\s+(\S+ ?\S*)")
# Where moto stops the guided flow (it creates SAM's managed stack without outputs).
MANAGED_BUCKET = "Looking for resources needed for deployment"
NO_DEFAULT = "—"


def one_account(readme: str) -> str:
    return readme.split("\n### One account\n", 1)[1].split("\n### ", 1)[0]


def commands(section: str) -> list[str]:
    """Every command line of the section's fenced shell blocks."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def prompt_table(section: str) -> list[list[str]]:
    """The rows of the prompt table (the one whose header starts with "prompt")."""
    table = section.split("\n| prompt |", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    return rows[2:]  # the header's remainder and the |---| line


def expected(rows: list[list[str]], column: int) -> list[tuple[str, str | None]]:
    """(prompt, default) in the README's order for one command; None: not fixed."""
    wanted = []
    for row in rows:
        cell = row[column]
        if cell == NO_DEFAULT:
            continue
        default = re.match(r"`([^`]*)`", cell)
        wanted.append((row[0], default.group(1) if default else None))
    return wanted


def shown_default(text: str) -> str:
    """click shows a yes/no default as Y/n or y/N; the README writes Y or N."""
    return {"Y/n": "Y", "y/N": "N"}.get(text, text)


def guided(script: str, answers: list[str], endpoint: str) -> str:
    """``script`` through bash, from the root, against the emulator."""
    run = subprocess.run(
        ["bash", "-c", script],
        input="".join(f"{a}\n" for a in answers),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**sam_env(), **aws_env(endpoint)},
        timeout=900,
    )
    return run.stdout + run.stderr


def test_the_readme_parses() -> None:
    """The parsing below finds what it needs, and rejects a table it cannot read."""
    section = one_account(README.read_text(encoding="utf-8"))
    lines = commands(section)
    assert [line.split("#")[0].strip() for line in lines[:3]] == [
        "make build",
        "source .venv/bin/activate",
        "sam deploy --guided",
    ]
    assert len([c for c in lines if c.startswith("sam deploy --guided")]) == 2
    rows = prompt_table(section)
    assert rows[0][0] == "Stack Name" and all(len(r) == 3 for r in rows)
    with pytest.raises(IndexError):
        prompt_table("no table here")


@pytest.fixture(scope="module")
def built() -> Path:
    """`make build` (the README's first command), through `make bundle`."""
    return make_bundle()


def test_readme_guided_deploys_find_samconfig(built: Path, emulator: str, tmp_path: Path) -> None:
    del built
    section = one_account(README.read_text(encoding="utf-8"))
    lines = commands(section)
    deploys = [c for c in lines if c.startswith("sam deploy --guided")]
    # The README's shell set-up (activating .venv, where `sam` is) precedes each deploy.
    setup = "".join(f"{c}\n" for c in lines if c.startswith("source "))
    rows = prompt_table(section)
    before = SAMCONFIG.read_bytes()
    try:
        for column, command in enumerate(deploys, start=1):
            wanted = expected(rows, column)
            # Enter everywhere, except that a save goes to a scratch file: were moto to
            # let the deploy through, the repository's samconfig.toml stays as it is.
            answers = [
                str(tmp_path / f"saved-{column}.toml") if name == "SAM configuration file" else ""
                for name, _ in wanted
            ]
            out = guided(setup + command, answers, emulator)
            found = CONFIG_FOUND.search(out)
            assert found, out
            assert found.group(2) == "Found", out
            assert (ROOT / found.group(1)).resolve() == SAMCONFIG, found.group(1)
            asked = [(name, shown_default(default)) for name, default in PROMPT.findall(out)]
            assert [name for name, _ in asked] == [name for name, _ in wanted], out
            for (name, shown), (_, default) in zip(asked, wanted, strict=True):
                assert default is None or shown == default, (name, shown, default)
            assert MANAGED_BUCKET in out, out
            assert "aws-sam-cli-managed-default is missing Tags and/or Outputs" in out, out
    finally:
        if SAMCONFIG.read_bytes() != before:
            SAMCONFIG.write_bytes(before)
            pytest.fail("a guided deploy rewrote samconfig.toml")
    assert deploys, "no `sam deploy --guided` in the README's One account section"
    # The first is the macro stack's, exactly as a new user types it.
    assert deploys[0].split("#")[0].strip() == "sam deploy --guided"
