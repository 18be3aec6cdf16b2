"""What the local flow knows: a processor as deployed in the emulator, a row per
upload, and the error a user can fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..scaling import Scaler

if TYPE_CHECKING:
    from moto.events.models import EventPattern


class LocalError(Exception):
    """A problem the user can fix; the message is printed as is, exit status 1."""


@dataclass
class Processor:
    """One processor as deployed in the emulator."""

    logical_id: str
    bucket: str
    rule_arn: str
    pattern: str
    target: dict[str, Any]
    cluster: str
    task_definition: str
    dead_letter_queue: str
    container: dict[str, Any]
    network: dict[str, Any]
    failure_pattern: str = ""
    delivery: str = "Direct"  # its mode's name (delivery.MODES)
    state_machine: str = ""  # its ARN in the emulator (Orchestrated)
    definition: dict[str, Any] = field(default_factory=dict)  # substitutions filled in
    retry_attempts: int = 185  # the rule target's MaximumRetryAttempts
    vcpus: float = 0.25  # the task definition's Cpu, what a task holds of the vCPU quota
    queue: str = ""  # its queue's URL (Queued)
    service: str = ""  # its ECS service's name (Queued)
    scaler: Scaler | None = None  # its scaling policies and alarms, read back (Queued)

    @cached_property
    def matcher(self) -> EventPattern:
        """The rule's pattern as stored in the emulator, parsed once."""
        return _pattern(self.pattern)

    @cached_property
    def failure_matcher(self) -> EventPattern:
        return _pattern(self.failure_pattern)


def _pattern(text: str) -> EventPattern:
    # moto comes with the [local] extra only: imported here, when the local flow matches
    # an event, so that redrive (which shares this module through local.emulator) and
    # every other subcommand run on the base install.
    from moto.events.models import EventPattern

    return EventPattern.load(text)


@dataclass
class Row:
    """What happened to one upload (or one object a worker wrote)."""

    key: str
    bucket: str
    processor: str | None = None
    exit_code: int | None = None
    outputs: list[str] = field(default_factory=list)
    status: str = "waiting for event"
    duration_s: float | None = None
    overrides: dict[str, Any] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    task_arn: str = ""
    launch_attempts: int = 0
    runs: int = 0  # worker runs (a redriven upload runs again)
    outcome: str = ""  # processed | dead-lettered | lost
    redriven: bool = False  # re-submitted by someone else (redrive) and run again here

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "processor": self.processor,
            "exit_code": self.exit_code,
            "outputs": self.outputs,
            "status": self.status,
            "outcome": self.outcome,
            "launch_attempts": self.launch_attempts,
            "runs": self.runs,
            "redriven": self.redriven,
            "duration_s": self.duration_s,
        }


# An upload as the rows know it: (bucket, key, ETag without quotes).
Ident = tuple[str, str, str]


def upload_of(detail: Mapping[str, Any]) -> Ident:
    """The upload an S3 event's ``detail`` names (KeyError/TypeError when it names none)."""
    return (
        detail["bucket"]["name"],
        detail["object"]["key"],
        str(detail["object"].get("etag", "")),
    )
