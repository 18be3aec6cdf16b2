"""Ctrl-C, SIGTERM and SIGHUP as a request to stop ``local`` at the next safe point."""

from __future__ import annotations

import os
import signal
from contextlib import suppress
from types import FrameType
from typing import Any

from ..output import PROG
from .ecs import stop_workers
from .emulator import stop_all

STOP_SIGNALS = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None
)


class Stop:
    """Ctrl-C, SIGTERM and SIGHUP as a request to stop at the next safe point.

    The handler only records the signal: an exception raised at an arbitrary point
    could land between starting the emulator and registering it for cleanup, or in
    the middle of an upload. (Nor may it set a threading.Event: the main thread may
    hold that event's lock when the signal arrives.) A second signal stops at once:
    the running workers and the emulator are terminated and the process exits 128+N,
    without the table."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum != 0

    def __enter__(self) -> Stop:
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        except ValueError:  # not the main thread (an embedding program): no handlers
            self._previous = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(signum).name
        if self.signum:
            say_now(f"{PROG} local: stopped at once by a second signal ({name})")
            stop_workers()
            stop_all()
            os._exit(128 + signum)
        self.signum = signum
        say_now(f"· stopping ({name}): the running tasks end; a second signal stops at once")


def say_now(line: str) -> None:
    """A line on stderr from a signal handler: os.write, as the main thread may be inside
    a print to stderr; never an exception (stderr may be closed)."""
    with suppress(OSError):
        os.write(2, f"{line}\n".encode())
