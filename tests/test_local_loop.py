"""The local recovery loop as the README tells it, and how ``local`` stops and exits.

Each ``local`` here is a process of its own, started the way a user's shell starts it
(``bash -c``, from the repository root, with no AWS settings and a fresh home), stopped
with real signals. Every process it starts inherits a marker in its environment, so
that afterwards ``ps`` can tell whether any of them (the moto server, a worker) was
left running, without mistaking the processes of tests running next to this one."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO

import pytest
from private_s3_processor_cli.local.session import deploy
from private_s3_processor_cli.main import main

import template as templates
from tests.conftest import ROOT, cli, quiet

README = ROOT / "README.md"
MARK = "PRIVATE_S3_LOCAL_TEST"
WAIT_S = 300  # a hung process fails the test instead of hanging the suite
# The README's placeholders for what a run chooses.
PLACEHOLDERS = {"private-s3-local-…": r"private-s3-local-\d+", "http://localhost:PORT": None}


def locally(readme: str) -> str:
    """README "Recovery: `redrive`", its "Locally" sub-block."""
    section = readme.split("\n### Recovery: `redrive`\n", 1)[1].split("\n### ", 1)[0]
    return section.split("\n#### Locally\n", 1)[1].split("\n#### ", 1)[0]


def fenced(section: str, language: str) -> list[list[str]]:
    """The lines of each fenced block of ``language`` ("" for plain output)."""
    blocks: list[list[str]] = []
    inside: list[str] | None = None
    kind = ""
    for line in section.splitlines():
        if not line.startswith("```"):
            if inside is not None:
                inside.append(line)
        elif inside is None:
            inside, kind = [], line[3:].strip()
        else:
            if kind == language:
                blocks.append(inside)
            inside = None
    return blocks


def commands(lines: list[str]) -> list[str]:
    """Shell command lines, continuation lines (``\\``) joined as the shell joins them."""
    joined: list[str] = []
    carry = ""
    for line in lines:
        if line.endswith("\\"):
            carry += line[:-1]
            continue
        joined.append(carry + line)
        carry = ""
    return joined


def shape(text: str, port: str = r"\d+") -> re.Pattern[str]:
    """A README line with placeholders, as a pattern of what `local` prints."""
    pattern = re.escape(text)
    for placeholder, value in PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), value or f"http://localhost:{port}")
    return re.compile(pattern)


def user_env(home: Path, marker: str) -> dict[str, str]:
    """A user's shell: the project's commands on PATH, no AWS settings or files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOME"] = str(home)
    env[MARK] = marker
    return env


def marked(marker: str) -> list[str]:
    """The processes (command lines) whose environment carries the marker."""
    listed = subprocess.run(
        ["ps", "eww", "-A", "-o", "pid=,command="], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split(f" {MARK}=")[0] for line in listed.splitlines() if f"{MARK}={marker}" in line
    ]


def gone(marker: str) -> list[str]:
    """What is left of the marked processes once they have had time to end (an empty
    list is the pass; the wait only bounds a failing case)."""
    deadline = time.monotonic() + 30
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


class Shell:
    """A command typed into a shell of its own, its stderr followed line by line."""

    def __init__(self, command: str, env: dict[str, str], group: bool = False) -> None:
        # `exec`: the signals go to the command itself, as to a program run in a terminal.
        # group: a process group of its own, which a terminal's Ctrl-C reaches as a whole.
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=group,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        self.out: list[str] = []
        assert self.proc.stderr is not None and self.proc.stdout is not None
        self._readers = [
            threading.Thread(target=self._follow, args=(self.proc.stderr,), daemon=True),
            threading.Thread(target=self._keep, args=(self.proc.stdout,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _follow(self, stream: IO[str]) -> None:
        for line in stream:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _keep(self, stream: IO[str]) -> None:
        self.out.extend(stream)

    def until(self, text: str) -> str:
        """The next stderr line holding ``text``."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                pytest.fail(f"no line with {text!r}; stderr:\n{''.join(self.err)}")
            if text in line:
                return line

    def signal(self, number: int, group: bool = False) -> None:
        if group:
            os.killpg(self.proc.pid, number)
        else:
            self.proc.send_signal(number)

    def finish(self) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=WAIT_S)
        for reader in self._readers:
            reader.join(timeout=WAIT_S)
        return code, "".join(self.out), "".join(self.err)


@pytest.fixture
def marker() -> Iterator[str]:
    """The marker of one test's processes; whatever a failing test left is killed."""
    mark = uuid.uuid4().hex
    yield mark
    for line in marked(mark):
        with suppress(ProcessLookupError):
            os.kill(int(line.split()[0]), signal.SIGKILL)


# --- the README's loop, as typed -----------------------------------------------------------


def test_the_readme_section_parses() -> None:
    block = locally(README.read_text(encoding="utf-8"))
    (start,), (redrive,) = (commands(lines) for lines in fenced(block, "sh"))
    assert start.startswith("private-s3-processor local ") and "--keep-running" in start
    assert redrive.startswith("private-s3-processor redrive --stack private-s3-local-… ")
    assert shape(redrive).fullmatch(
        "private-s3-processor redrive --stack private-s3-local-17 --processor Invoices "
        "--endpoint-url http://localhost:5000"
    )
    assert [len(b) for b in fenced(block, "")] == [4]  # what `local` prints
    assert fenced("```sh\na\n```\n```\nb\n```\n", "") == [["b"]]
    with pytest.raises(IndexError):
        locally("## no such section\n")


def test_the_readme_recovery_loop_as_typed(tmp_path: Path, marker: str) -> None:
    """`local … --keep-running` as the README types it dead-letters a key Direct cannot
    carry and prints the redrive command; that command, typed in a second shell, is
    accepted; the still-running `local` runs the re-submitted upload; SIGTERM ends it
    with the table, exit 0, and no process left behind."""
    block = locally(README.read_text(encoding="utf-8"))
    (start,), (typed_redrive,) = (commands(lines) for lines in fenced(block, "sh"))
    (shown,) = fenced(block, "")
    env = user_env(tmp_path, marker)
    local = Shell(start, env)
    first = local.until("emulator at ")
    port = re.search(r"localhost:(\d+)", first).group(1)  # type: ignore[union-attr]
    printed = local.until("private-s3-processor redrive ").strip()
    # What the README shows `local` printing, it printed (placeholders aside).
    for line in shown:
        assert any(shape(line.strip(), port).fullmatch(seen.strip()) for seen in local.err), line
    assert shape(typed_redrive, port).fullmatch(printed)
    assert any("moto_server" in p for p in marked(marker))  # the marker does see it

    second = subprocess.run(
        ["bash", "-c", printed],
        cwd=ROOT,
        env=user_env(tmp_path, marker),
        capture_output=True,
        text=True,
        check=False,
        timeout=WAIT_S,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("re-submitted s3://"), second.stdout
    assert 'inbound/say "hi".csv' in second.stdout

    local.until('inbound/say "hi".csv: redriven, task started in Invoices')
    assert "(processed)" in local.until('inbound/say "hi".csv: worker exited')
    local.signal(signal.SIGTERM)
    code, out, err = local.finish()
    assert code == 0, err
    assert "Traceback" not in err
    (row,) = [line for line in out.splitlines() if line.startswith('inbound/say "hi".csv ')]
    assert row.split()[-2:] == ["processed", "(redriven)"], out
    assert "1 uploads, 1 matched a processor, 1 processed (exit 0), 1 redriven" in out
    assert gone(marker) == []


HAND_STARTED = """
Transform: PrivateS3Processor
Resources:
  Hand:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Delivery: Orchestrated
"""


def test_a_hand_made_execution_is_run_and_dead_lettered(emulator: str, tmp_path: Path) -> None:
    """`aws stepfunctions start-execution` typed at the emulator while `local` serves: an
    input that is no S3 event (none at all is `{}`) is run like any other execution, so
    the state machine dead-letters it, instead of `local` ending in a traceback. Its row
    is named after the execution."""
    template = tmp_path / "hand.yaml"
    template.write_text(HAND_STARTED)
    with deploy(emulator, template, {}, quiet) as session:
        p = session.processors["Hand"]
        odd_key = {
            "detail": {"bucket": {"name": p.bucket}, "object": {"key": 7, "size": 1, "etag": "e"}}
        }
        inputs = [
            ({}, "EventFieldMissing"),
            ({"input": '"an S3 event"'}, "EventFieldMissing"),
            ({"input": json.dumps(odd_key)}, "EventFieldInvalid"),
        ]
        want = {}  # the row each execution gets -> the error it is dead-lettered with
        for given, error in inputs:
            arn = session.aws["stepfunctions"].start_execution(
                stateMachineArn=p.state_machine, **given
            )["executionArn"]
            want[f"(execution {arn.rsplit(':', 1)[-1]})"] = error
        assert session.adopt() == 3
        session.settle()
    rows = session.results()
    assert {r.key: r.outcome for r in rows} == dict.fromkeys(want, "dead-lettered")
    assert {r.key: r.status.rsplit(" ", 1)[-1] for r in rows} == {
        k: f"({error})" for k, error in want.items()
    }


# --- stopping --------------------------------------------------------------------------------


def test_sigterm_while_the_emulator_starts(tmp_path: Path, marker: str) -> None:
    """The signal lands while the moto server is starting (before any upload): `local`
    still stops the server it started, says so, and exits 143."""
    sample = ROOT / "examples" / "samples" / "inbound" / "2026-03-invoices.csv"
    local = Shell(
        f"private-s3-processor local examples/invoices.yaml --keep-running --upload {sample}",
        user_env(tmp_path, marker),
    )
    deadline = time.monotonic() + WAIT_S
    while not any("moto_server" in p for p in marked(marker)):
        assert time.monotonic() < deadline and local.proc.poll() is None, local.err
        time.sleep(0.02)
    local.signal(signal.SIGTERM)
    code, _, err = local.finish()
    assert code == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert gone(marker) == []


def test_ctrl_c_during_the_uploads_ends_what_was_uploaded(tmp_path: Path, marker: str) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the moto server and the
    running workers must outlive it (they lead groups of their own), so that `local`
    stops uploading, lets the started tasks end, prints their table and exits 130."""
    folder = tmp_path / "many"
    (folder / "inbound").mkdir(parents=True)
    for i in range(60):
        (folder / "inbound" / f"{i:02d}.csv").write_text("a,b\n1,2\n")
    local = Shell(
        f"private-s3-processor local examples/invoices.yaml --upload {folder}",
        user_env(tmp_path, marker),
        group=True,
    )
    local.until("uploaded inbound/")
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    made = re.search(r"stopped by SIGINT after (\d+) of 60 uploads", err)
    assert made, err
    rows = [line.split() for line in out.splitlines() if line.startswith("inbound/")]
    assert 1 <= len(rows) == int(made.group(1)) < 60
    assert all(row[1:3] == ["Invoices", "0"] and row[-1] == "processed" for row in rows), out
    assert gone(marker) == []


def test_ctrl_c_ends_watch_with_the_table(tmp_path: Path, marker: str) -> None:
    folder = tmp_path / "drop"
    (folder / "inbound").mkdir(parents=True)
    local = Shell(
        f"private-s3-processor local examples/invoices.yaml --watch {folder}",
        user_env(tmp_path, marker),
        group=True,
    )
    local.until("watching")
    (folder / "inbound" / "late.csv").write_text("a\n1\n")
    assert "(processed)" in local.until("inbound/late.csv: worker exited")
    local.signal(signal.SIGINT, group=True)
    code, out, err = local.finish()
    assert code == 0, err
    assert "Traceback" not in err
    assert re.search(r"^inbound/late\.csv +Invoices +0 .* processed *$", out, flags=re.M), out
    assert gone(marker) == []


SLOW = """
Transform: PrivateS3Processor
Resources:
  Slow:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Mode: Test
      Environment: {TEST_SLEEP_SECONDS: "600"}
"""


def test_a_second_signal_stops_at_once(tmp_path: Path, marker: str) -> None:
    """The first SIGTERM waits for the running task (here ten minutes of the test
    block's sleep); the second ends `local`, its worker and its emulator at once."""
    template = tmp_path / "slow.yaml"
    template.write_text(SLOW)
    body = tmp_path / "one.txt"
    body.write_text("x\n")
    local = Shell(
        f"private-s3-processor local {template} --upload {body}", user_env(tmp_path, marker)
    )
    local.until("one.txt: rule Slow matched, task started")
    local.signal(signal.SIGTERM)
    local.until("stopping (SIGTERM)")
    local.signal(signal.SIGTERM)
    code, out, err = local.finish()
    assert code == 128 + signal.SIGTERM, err
    assert "stopped at once by a second signal" in err and out == ""
    assert gone(marker) == []


# --- exit status ---------------------------------------------------------------------------


def test_dead_lettered_exits_2_and_says_how_to_redrive(
    emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an emulator that outlives the run, the summary gives the redrive command."""
    body = tmp_path / "q.csv"
    body.write_text("a\n")
    code = main(
        [
            "local",
            "examples/invoices.yaml",
            "--endpoint-url",
            emulator,
            f'--upload={body}=inbound/say "hi".csv',
            f"--upload={body}=inbound/fine.csv",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "1 upload dead-lettered (exit 2)" in err
    assert re.search(
        rf"^    private-s3-processor redrive --stack private-s3-local-\d+ --processor Invoices "
        rf"--endpoint-url {re.escape(emulator)}$",
        err,
        flags=re.M,
    ), err
    assert "outcomes: 1 dead-lettered, 1 processed" in out


def test_lost_uploads_exit_2(emulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    sample = "examples/samples/inbound/2026-03-invoices.csv"
    code = main(
        [
            "local",
            "examples/invoices.yaml",
            "--endpoint-url",
            emulator,
            "--upload",
            sample + "=inbound/x.csv",
            "--fail-launches",
            "1",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2, err
    (row,) = map(json.loads, out.splitlines())
    assert row["outcome"] == "lost" and "1 upload lost (exit 2)" in err


def test_make_demo_exits_0(tmp_path: Path) -> None:
    """The Makefile's demo command on what `make build` writes: its samples are all meant
    to be processed or to match nothing."""
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    (line,) = [r.strip() for r in recipe.splitlines() if "private-s3-processor local" in r]
    words = line.split()
    assert words[0].endswith("/private-s3-processor") and words[2] == "build/example.yaml"
    example = tmp_path / "example.yaml"
    example.write_text(templates.render()["example.yaml"], encoding="utf-8")
    run = cli("local", str(example), *words[3:])
    assert run.returncode == 0, run.stderr
    assert "4 uploads, 2 matched a processor, 2 processed (exit 0)" in run.stdout
