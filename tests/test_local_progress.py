"""``local``'s progress as the SAM CLI and pip show theirs: on a terminal, a status line
(``uploads 2/3 · processed 1 · ...``) kept below stderr's lines and rewritten in place;
not a terminal, no status line at all (stderr's lines as they were); ``--json`` alike."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from private_s3_processor_cli.local import report
from private_s3_processor_cli.local.model import Row
from private_s3_processor_cli.local.report import StatusLine, counts, status_line

from tests.conftest import ROOT

DEFAULTS = "tests/golden/input/defaults.yaml"


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: ``\\r`` returns to the line's start and the
    characters after it overwrite what was there."""
    lines, col = [""], 0
    for char in raw:
        if char == "\n":
            lines.append("")
            col = 0
        elif char == "\r":
            col = 0
        else:
            line = lines[-1].ljust(col)
            lines[-1] = line[:col] + char + line[col + 1 :]
            col += 1
    return [line.rstrip() for line in lines]


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def row(outcome: str = "", processor: str | None = "P") -> Row:
    return Row(key="k", bucket="b", processor=processor, outcome=outcome)


def test_counts() -> None:
    rows = [row("processed"), row("processed"), row(), row("dead-lettered"), row()]
    rows.append(row(processor=None))  # no match: an upload, neither processed nor in flight
    assert counts(rows, 300) == "uploads 6/300 · processed 2 · in flight 2 · dead-lettered 1"
    assert counts([row("lost")], None) == "uploads 1 · processed 0 · lost 1"
    assert counts([row("processed")] * 4, 3) == "uploads 4 · processed 4"  # redriven joined


def test_the_status_line_stays_below_the_lines_and_is_rewritten_in_place() -> None:
    term, clock = Terminal(), Clock()
    state = {"text": "uploads 0/2"}
    line = StatusLine(term, lambda: state["text"], every_s=0.1, clock=clock)
    line.write("")
    assert screen(term.getvalue()) == ["uploads 0/2"]
    clock.now = 1.0
    state["text"] = "uploads 1/2 · in flight 1"
    print("· uploaded a.csv", file=line)  # type: ignore[arg-type]
    assert screen(term.getvalue()) == ["· uploaded a.csv", "uploads 1/2 · in flight 1"]
    clock.now = 2.0
    state["text"] = "uploads 2/2 · processed 2"
    print("· a.csv: worker exited 0", file=line)  # type: ignore[arg-type]
    assert screen(term.getvalue()) == [
        "· uploaded a.csv",
        "· a.csv: worker exited 0",
        "uploads 2/2 · processed 2",
    ]
    assert "\r" in term.getvalue()
    line.clear()
    assert screen(term.getvalue())[-1] == ""  # erased before the table


def test_the_status_is_recomputed_at_most_every_interval() -> None:
    term, clock, calls = Terminal(), Clock(), []

    def status() -> str:
        calls.append(clock.now)
        return f"computed {len(calls)}"

    line = StatusLine(term, status, every_s=0.1, clock=clock)
    for _ in range(50):  # a burst of lines within one interval: computed once
        line.write("· x\n")
    assert calls == [0.0]
    assert screen(term.getvalue())[-1] == "computed 1"  # yet redrawn below every line
    clock.now = 0.1
    line.write("· y\n")
    assert calls == [0.0, 0.1] and screen(term.getvalue())[-1] == "computed 2"


def test_a_tick_brings_the_status_up_to_date_between_lines() -> None:
    """The timer of ``status_line`` ticks: a count that changed after the last progress
    line shows without waiting for the next one."""
    term, clock = Terminal(), Clock()
    state = {"text": "uploads 1/1 · in flight 1"}
    line = StatusLine(term, lambda: state["text"], every_s=0.1, clock=clock)
    line.write("· a.csv: worker exited 0 (processed)\n")
    state["text"] = "uploads 1/1 · processed 1"
    line.tick()  # no time passed: recomputed all the same
    assert screen(term.getvalue()) == [
        "· a.csv: worker exited 0 (processed)",
        "uploads 1/1 · processed 1",
    ]
    line.write("    a command being printed")  # a partial line: a tick leaves it alone
    state["text"] = "changed"
    line.tick()
    assert screen(term.getvalue())[-1] == "    a command being printed"


def test_a_partial_line_is_not_run_into_the_status() -> None:
    term = Terminal()
    line = StatusLine(term, lambda: "uploads 1/1", clock=Clock())
    line.write("")
    line.write("    private-s3-processor redrive --stack s")
    line.write(" --processor P\n")
    assert screen(term.getvalue()) == [
        "    private-s3-processor redrive --stack s --processor P",
        "uploads 1/1",
    ]


def test_the_status_never_wraps() -> None:
    term = Terminal()  # no file descriptor: 80 columns
    line = StatusLine(term, lambda: "x" * 200, clock=Clock())
    line.write("")
    assert screen(term.getvalue()) == ["x" * 79]


def test_not_a_terminal_no_status_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    with status_line(lambda: "uploads 1/1") as live:
        assert live is None and sys.stderr is piped
        report.progress("uploaded a")
    assert piped.getvalue() == "· uploaded a\n"


def test_a_dumb_terminal_gets_no_status(monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TERM", "dumb")
    with status_line(lambda: "uploads 1/1") as live:
        assert live is None
    assert term.getvalue() == ""


def test_on_a_terminal_stderr_carries_the_status_until_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TERM", "xterm")
    with status_line(lambda: "uploads 1/1 · processed 1"):
        report.progress("uploaded a")
        assert screen(term.getvalue()) == ["· uploaded a", "uploads 1/1 · processed 1"]
    assert sys.stderr is term
    assert screen(term.getvalue()) == ["· uploaded a", ""]


# --- the command itself, on a pseudo-terminal and on a pipe ------------------------------


def run_local(endpoint: str, tmp_path: Path, tty: bool, extra: list[str]) -> tuple[str, str]:
    """``local`` with stdout on a pipe and stderr on a pseudo-terminal (``tty``) or a
    pipe; returns (stdout, stderr)."""
    body = tmp_path / "a.csv"
    body.write_text("x\n")
    argv = [sys.executable, "-m", "private_s3_processor_cli", "local", DEFAULTS]
    argv += ["--endpoint-url", endpoint, "--upload", f"{body}=in/a.csv", *extra]
    env = {**os.environ, "TERM": "xterm"}
    if not tty:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    reader.join(timeout=30)
    os.close(master)
    return out, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_on_a_terminal_a_status_line(emulator: str, tmp_path: Path, extra: list[str]) -> None:
    out, err = run_local(emulator, tmp_path, True, extra)
    assert "uploads 1/1" in err and "\r" in err
    shown = screen(err)
    assert any(line.startswith("· uploaded in/a.csv") for line in shown)
    assert not any(line.startswith("uploads ") for line in shown)  # erased at the end
    assert "\r" not in out and "uploads 1/1" not in out


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_on_a_pipe_no_status_at_all(emulator: str, tmp_path: Path, extra: list[str]) -> None:
    out, err = run_local(emulator, tmp_path, False, extra)
    assert "uploads 1/1" not in err and "\r" not in err
    assert "· uploaded in/a.csv" in err
    if extra:
        assert out.startswith('{"key": "in/a.csv", "processor": "Uploads"')
    else:
        assert "1 uploads, 1 matched a processor, 1 processed (exit 0)" in out
