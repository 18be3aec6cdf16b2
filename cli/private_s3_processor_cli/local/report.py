"""What ``local`` prints: progress on stderr (on a terminal, with a status line kept
below it), then the table of rows (or JSON lines) and the summary on stdout."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from .launches import LaunchFaults
from .model import Row

# The status line is recomputed at most this often; between, it is redrawn as it was.
REDRAW_EVERY_S = 0.1


def progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def counts(rows: list[Row], total: int | None) -> str:
    """The status line: ``uploads 120/300 · processed 97 · in flight 22 · dead-lettered 1``
    (uploads without a total when ``--watch`` adds them as they come, or once uploads
    ``redrive`` re-submitted from elsewhere joined them)."""
    outcomes = Counter(r.outcome for r in rows if r.processor)
    flight = sum(1 for r in rows if r.processor and not r.outcome)
    known = total is not None and len(rows) <= total
    parts = [f"uploads {len(rows)}" + (f"/{total}" if known else "")]
    parts.append(f"processed {outcomes['processed']}")
    parts += [f"in flight {flight}"] if flight else []
    parts += [f"{o} {outcomes[o]}" for o in ("dead-lettered", "lost") if outcomes[o]]
    return " · ".join(parts)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal that can rewrite a line in place (as the SAM CLI
    and pip decide it: a TTY, and not TERM=dumb)."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class StatusLine:
    """Stands in for a terminal's stderr: every line written goes above a status line
    that is rewritten in place with ``\\r``, so progress lines and a ready-to-paste
    command are never run into it. A burst of lines recomputes the status at most every
    ``every_s`` (counting the rows is linear in them); ``tick`` brings it up to date."""

    def __init__(
        self,
        stream: TextIO,
        status: Callable[[], str],
        *,
        every_s: float = REDRAW_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self._status, self._every, self._clock = stream, status, every_s, clock
        self._lock = threading.RLock()
        self._shown = ""  # what the status line shows now ("" while erased)
        self._text = ""  # its last computed text
        self._when = -float("inf")
        self._mid_line = False  # a write left the cursor inside a line of its own

    def write(self, text: str) -> int:
        with self._lock:
            self._erase()
            self.stream.write(text)
            if text:
                self._mid_line = not text.endswith("\n")
            if not self._mid_line:
                self._draw()
            return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def tick(self) -> None:
        """Recompute the status and redraw it (from ``status_line``'s timer), unless a
        partial line is being written: the line stays current between progress lines."""
        with self._lock:
            if self._mid_line:
                return
            text, self._when = self._status(), self._clock()
            if text != self._text or not self._shown:
                self._text = text
                self._erase()
                self._draw()

    def clear(self) -> None:
        """Erase the status line until the next line written."""
        with self._lock:
            self._erase()
            self.stream.flush()

    def _erase(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self._shown = ""

    def _draw(self) -> None:
        now = self._clock()
        if now - self._when >= self._every:
            self._text, self._when = self._status(), now
        # Never wider than the terminal: a wrapped line cannot be rewritten with \r.
        self._shown = self._text[: max(_columns(self.stream) - 1, 0)]
        self.stream.write(self._shown)
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)  # fileno, isatty, encoding...


def _columns(stream: Any) -> int:
    """The terminal's width; 80 when it does not say (a new pseudo-terminal says 0)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


@contextmanager
def status_line(status: Callable[[], str]) -> Iterator[StatusLine | None]:
    """On a terminal: stderr keeps ``status()`` as its last line until the block ends
    (then erased, before the table), refreshed every ``REDRAW_EVERY_S`` by a timer
    thread. Not a terminal: nothing changes, no status at all."""
    if not is_terminal(sys.stderr):
        yield None
        return
    line = StatusLine(sys.stderr, status)
    done = threading.Event()

    def refresh() -> None:
        while not done.wait(REDRAW_EVERY_S):
            line.tick()

    timer = threading.Thread(target=refresh, name="status-line", daemon=True)
    sys.stderr = line  # every writer to stderr goes above it
    try:
        line.write("")  # show it now, not at the first progress line
        timer.start()
        yield line
    finally:
        done.set()
        timer.join()
        sys.stderr = line.stream
        line.clear()


def table(rows: list[Row]) -> str:
    headers = ("key", "processor", "exit", "outputs", "duration", "status")
    lines = [
        [
            r.key,
            r.processor or "no match",
            "" if r.exit_code is None else str(r.exit_code),
            str(len(r.outputs)),
            "" if r.duration_s is None else f"{r.duration_s:.2f}s",
            f"{r.status} (redriven)" if r.redriven else r.status,
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out) + "\n"


def print_results(
    rows: list[Row],
    *,
    as_json: bool,
    retriggered: int,
    faults: LaunchFaults,
    elapsed: float,
    phases: Mapping[str, float] | None = None,
    quota: Counter[str] | None = None,
    notes: list[str] | None = None,
) -> None:
    """The rows as JSON lines; or the table, each output, and the summary (its time
    split into ``phases``, seconds each, when given)."""
    if as_json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=False))
        for note in notes or []:
            progress(note)  # stdout holds only the rows
        return
    sys.stdout.write(table(rows))
    for row in rows:
        for output in row.outputs:
            print(f"  {row.key} -> s3://{row.bucket}/{output}")
    matched = sum(1 for r in rows if r.processor)
    outcomes = Counter(r.outcome for r in rows if r.processor)
    redriven = sum(1 for r in rows if r.redriven)
    print(
        f"{len(rows)} uploads, {matched} matched a processor, "
        f"{sum(1 for r in rows if r.exit_code == 0)} processed (exit 0), "
        + (f"{redriven} redriven, " if redriven else "")
        + f"{retriggered} outputs re-triggered a processor; {elapsed:.1f}s"
        + (" (" + ", ".join(f"{n} {t:.1f}s" for n, t in phases.items()) + ")" if phases else "")
    )
    if set(outcomes) - {"processed"} or faults.failures or faults.throttling:
        print(
            "outcomes: "
            + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            + "; launch attempts: "
            + ", ".join(f"{n} {k}" for k, n in sorted(faults.drawn.items()))
        )
    if quota and (quota["throttled"] or quota["vcpu"]):
        print(
            f"account quota: {quota['launched']} tasks launched, {quota['throttled']} "
            f"launch attempts throttled, {quota['vcpu']} refused for vCPUs"
        )
    for note in notes or []:
        print(note)
