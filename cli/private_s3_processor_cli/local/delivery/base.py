"""What every delivery mode answers, and what it may ask of the session that owns the
rows. A mode is one module beside this one plus its entry in ``MODES``
(``delivery/__init__.py``), named like the macro's mode."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ..ecs import Ecs
from ..model import Processor, Row
from ..stack import Deployed


class Rows(Protocol):
    """The session, as a mode sees it: the rows, the work running, what it started."""

    started: set[str]  # executions and tasks run here, so that each runs once

    def progress(self, message: str) -> None:
        """Say what happened to an upload (stderr, in the command)."""

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        """Run ``work(*args)`` on the session's pool of tasks."""

    def row_of(self, detail: Mapping[str, Any], p: Processor) -> Row:
        """The row of the upload ``detail`` names, marked redriven."""


@dataclass
class Services:
    """The emulator's services a mode plays on, and the clock of its retries."""

    aws: dict[str, Any]
    ecs: Ecs
    sleep: Callable[[float], None]  # retry waits, scaled by the session's time scale
    rng: random.Random  # the jitter of retries, seeded like the launch faults
    clock: Callable[[], float]  # simulated seconds (the quota's and the alarms' clock)
    time_scale: float  # real seconds per simulated second


class Mode(ABC):
    """One delivery mode, as the local flow plays it."""

    name: ClassVar[str]  # the macro's name for it (``Delivery``)

    def __init__(self, services: Services, rows: Rows) -> None:
        self.services, self.rows = services, rows

    @staticmethod
    @abstractmethod
    def owns(template: Mapping[str, Any], part: Deployed) -> bool:
        """Whether the expanded template delivers ``part``'s events in this mode."""

    @staticmethod
    @abstractmethod
    def read_back(
        aws: Mapping[str, Any],
        template: Mapping[str, Any],
        part: Deployed,
        physical: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> Processor:
        """The processor as deployed, with the parts only this mode has."""

    @abstractmethod
    def play(self, p: Processor, row: Row, event: dict[str, Any]) -> None:
        """What the rule's target does with ``event``, which matched ``p``'s pattern."""

    @abstractmethod
    def adopt(self, p: Processor) -> int:
        """Run what someone else started for ``p`` (``redrive``); returns how many."""

    def busy(self) -> bool:
        """Whether work of this mode that the session's pool does not run (a queue being
        drained) is still going on; ``settle`` waits while it is."""
        return False

    def close(self) -> list[str]:
        """Stop what the mode runs on its own; returns lines for the report."""
        return []
