"""The session: the stack in the emulator, the tap, and the rows of what happened.

It uploads, takes the S3 events waiting on the tap (``dispatch``), matches each
against every processor's rule pattern and hands the match to the processor's
delivery mode (``delivery/``); ``settle`` waits until the tasks and the events their
outputs cause are done; ``adopt`` runs what someone else (``redrive``) started.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from ..quota import Quota, QuotaLimits
from .delivery import MODES, Mode, Services, processors_of
from .ecs import Ecs, warm_server
from .emulator import clients
from .eventbridge import documented_shape, tap_queue
from .launches import LaunchFaults
from .model import Processor, Row, upload_of
from .stack import create_stack, expand_for_emulator

STACK = "private-s3-local"


@dataclass
class Session:
    """The stack in the emulator, the tap, and the rows of what happened."""

    endpoint: str
    aws: dict[str, Any]
    processors: dict[str, Processor]
    tap: str
    cwd: Path
    progress: Callable[[str], None]
    concurrency: int = 2
    stack: str = ""
    launch_faults: InitVar[LaunchFaults | None] = None
    # Waits are multiplied by this and the simulated clock (the account's quota, the
    # alarms of Queued) runs 1/time_scale times as fast as the real one.
    time_scale: float = 1.0
    quota_limits: InitVar[QuotaLimits | None] = None
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)
    order: list[tuple[str, str, str]] = field(default_factory=list)
    retriggered: list[Row] = field(default_factory=list)
    pending: list[Future[None]] = field(default_factory=list)
    # Executions this session started or adopted, and tasks it adopted: run once each.
    started: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)  # the modes' closing words, for the report
    ecs: Ecs = field(init=False)

    def __post_init__(
        self, launch_faults: LaunchFaults | None, quota_limits: QuotaLimits | None
    ) -> None:
        faults = launch_faults or LaunchFaults()
        self._epoch = time.monotonic()
        quota = Quota(quota_limits or QuotaLimits(), self.clock)
        self.ecs = Ecs(self.aws, self.endpoint, self.cwd, faults, quota)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        services = Services(
            self.aws, self.ecs, self._sleep, random.Random(faults.seed), self.clock, self.time_scale
        )
        self._modes: dict[str, Mode] = {name: mode(services, self) for name, mode in MODES.items()}

    def mode(self, name: str) -> Mode:
        """The session's player of the delivery mode ``name`` (its counts, for tests)."""
        return self._modes[name]

    def clock(self) -> float:
        """Simulated seconds since the session began: real seconds / time scale."""
        return (time.monotonic() - self._epoch) / self.time_scale

    @property
    def faults(self) -> LaunchFaults:
        """The launch faults in force (replacing them ends a simulated outage)."""
        return self.ecs.faults

    @faults.setter
    def faults(self, faults: LaunchFaults) -> None:
        self.ecs.faults = faults

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload(self, path: Path, key: str, processor: Processor) -> None:
        with path.open("rb") as body:  # streamed, not read into memory
            answer = self.aws["s3"].put_object(Bucket=processor.bucket, Key=key, Body=body)
        ident = (processor.bucket, key, answer["ETag"].strip('"'))
        self.rows[ident] = Row(key=key, bucket=processor.bucket)
        self.order.append(ident)
        self.progress(f"uploaded {key}")

    def dispatch(self, wait_s: float = 0.0) -> int:
        """Take the S3 events waiting on the tap and play them; returns how many."""
        handled = 0
        deadline = time.monotonic() + wait_s
        while True:
            answer = self.aws["sqs"].receive_message(
                QueueUrl=self.tap, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            for message in messages:
                self._play(documented_shape(json.loads(message["Body"])))
                self.aws["sqs"].delete_message(
                    QueueUrl=self.tap, ReceiptHandle=message["ReceiptHandle"]
                )
                handled += 1
            if not messages:
                if time.monotonic() >= deadline:
                    return handled
                time.sleep(0.05)

    def _play(self, event: dict[str, Any]) -> None:
        """Each processor's rule pattern; a match goes to the processor's mode."""
        if event.get("detail-type") != "Object Created":
            return  # e.g. moto's "Object Tags Added" after every put: no rule matches it
        ident = upload_of(event["detail"])
        row = self.rows.get(ident)
        if row is None:  # an object a worker wrote
            row = Row(key=ident[1], bucket=ident[0], status="output")
        row.status = "no match"
        for p in self.processors.values():
            if not p.matcher.matches_event(event):  # type: ignore[arg-type]
                continue
            row.processor = p.logical_id
            if ident not in self.rows:
                self.retriggered.append(row)
            self._modes[p.delivery].play(p, row, event)

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        """Run ``work(*args)`` on the pool of tasks; ``settle`` waits for it."""
        self.pending.append(self._pool.submit(work, *args))

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.time_scale)

    def adopt(self) -> int:
        """Run what someone else started in the emulator (``redrive``): executions of the
        processors' state machines and tasks in the cluster that this session did not
        start, each found by its processor's mode."""
        return sum(self._modes[p.delivery].adopt(p) for p in self.processors.values())

    def row_of(self, detail: Mapping[str, Any], p: Processor) -> Row:
        """The row of the upload ``detail`` names (a new one if this session did not
        make it), marked redriven."""
        ident = upload_of(detail)
        row = self.rows.get(ident)
        if row is None:
            row = Row(key=ident[1], bucket=ident[0])
            self.rows[ident] = row
            self.order.append(ident)
        row.processor = p.logical_id
        row.status = "redriven"
        row.redriven = True
        return row

    def settle(self) -> None:
        """Wait for the running tasks, the modes' own work (a queue to drain) and the
        events their outputs cause, until quiet."""
        while True:
            self.dispatch(wait_s=0.2)
            running = [f for f in self.pending if not f.done()]
            busy = [mode for mode in self._modes.values() if mode.busy()]
            if not running and not busy:
                if not self.dispatch(wait_s=0.3):
                    break
                continue
            if running:
                running[0].result()
        for future in self.pending:
            future.result()  # re-raise anything that went wrong in a task thread
        for row in self.rows.values():
            if row.status == "waiting for event":
                row.status = "no event (the emulator did not emit one)"

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for mode in self._modes.values():
            self.notes += mode.close()

    def results(self) -> list[Row]:
        return [self.rows[i] for i in self.order]


def deploy(
    endpoint: str,
    template: Path,
    given: Mapping[str, str],
    progress: Callable[[str], None],
    concurrency: int = 2,
    faults: LaunchFaults | None = None,
    time_scale: float = 1.0,
    limits: QuotaLimits | None = None,
) -> Session:
    """Expand ``template``, create it as a new stack in the emulator, and return the
    session that uploads to it and plays its events."""
    warm_server(Path.cwd())  # ready by the first task, while the stack is created
    aws = clients(endpoint)
    expanded, values = expand_for_emulator(template, given, aws, progress)
    tap = tap_queue(aws)
    stack = f"{STACK}-{time.time_ns() // 1_000_000}"
    physical = create_stack(aws, expanded, values, stack)
    processors = processors_of(expanded, physical, aws, {**values, "AWS::StackName": stack})
    progress(
        f"stack {stack}: {len(physical)} resources; processors "
        + ", ".join(f"{p.logical_id} (bucket {p.bucket})" for p in processors.values())
    )
    return Session(
        endpoint,
        aws,
        processors,
        tap,
        Path.cwd(),
        progress,
        concurrency,
        stack=stack,
        launch_faults=faults or LaunchFaults(),
        time_scale=time_scale,
        quota_limits=limits,
    )
