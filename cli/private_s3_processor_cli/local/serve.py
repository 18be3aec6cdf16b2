"""``--watch`` and ``--keep-running``: serve until a stop signal, uploading new files,
running what ``redrive`` re-submits, and saying how to redrive whenever a dead-letter
queue fills."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from ..output import PROG
from .emulator import CREDENTIALS, REGION
from .model import Processor
from .report import progress, table
from .session import Session
from .stop import Stop


def serve(session: Session, stop: Stop, args: argparse.Namespace, target: Processor) -> None:
    """Until a stop signal: upload the new files of ``--watch``, run what someone else
    started in the emulator (``redrive``), and say how to redrive whenever a dead-letter
    queue receives messages."""
    folder = Path(args.watch) if args.watch else None
    watched = Watched(folder) if folder else None
    if args.keep_running:
        sys.stderr.write(table(session.results()))
    endpoint = session.endpoint
    progress(f"emulator at {endpoint}, region {REGION}, stack {session.stack}")
    progress(
        f"for the AWS CLI: export AWS_ENDPOINT_URL={endpoint} AWS_REGION={REGION} "
        f"AWS_ACCESS_KEY_ID={CREDENTIALS['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={CREDENTIALS['AWS_SECRET_ACCESS_KEY']}"
    )
    held = hint(session, {})
    progress(
        (f"watching {folder}; " if folder else "")
        + "running what redrive re-submits; Ctrl-C or SIGTERM prints the table and stops"
    )
    while not stop.requested:
        for path, key in watched.ready() if watched else []:
            if stop.requested:
                break
            session.upload(path, key, target)
        session.adopt()
        session.dispatch()
        held = hint(session, held)
        time.sleep(0.5)


class Watched:
    """The files of a folder, each given once its size has stopped changing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[Path] = {p for p in folder.rglob("*") if p.is_file()}
        self.sizes: dict[Path, int] = {}

    def ready(self) -> list[tuple[Path, str]]:
        found = []
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            if path in self.seen:
                continue
            size = path.stat().st_size
            if self.sizes.get(path) == size:
                self.seen.add(path)
                found.append((path, path.relative_to(self.folder).as_posix()))
            else:
                self.sizes[path] = size
        return found


def dead_letters(session: Session) -> dict[str, int]:
    """Messages in each processor's dead-letter queue (visible or being received)."""
    counts = {}
    for name, p in session.processors.items():
        attributes = session.aws["sqs"].get_queue_attributes(
            QueueUrl=p.dead_letter_queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        held = sum(int(v) for v in attributes.values())
        if held:
            counts[name] = held
    return counts


def redrive_command(session: Session, processor: str) -> str:
    words = [PROG, "redrive", "--stack", session.stack, "--processor", processor]
    return shlex.join([*words, "--endpoint-url", session.endpoint])


def _messages(held: int) -> str:
    return f"{held} message{'s' if held > 1 else ''}"


def hint(session: Session, before: dict[str, int]) -> dict[str, int]:
    """A ready-to-paste redrive command for each queue that holds more than ``before``;
    returns what each holds now."""
    now = dead_letters(session)
    for name, held in now.items():
        if held > before.get(name, 0):
            progress(f"{name}: {_messages(held)} in its dead-letter queue; to re-submit:")
            print(f"    {redrive_command(session, name)}", file=sys.stderr, flush=True)
    return now


def left_in_queues(session: Session, emulator_stays: bool) -> None:
    """What the dead-letter queues still hold at the end, and how to redrive it."""
    if emulator_stays:  # an emulator that `local` did not start outlives this run
        hint(session, {})
        return
    for name, held in dead_letters(session).items():
        progress(
            f"{name}: {_messages(held)} left in its dead-letter queue, which stops with the "
            "emulator: run again with --keep-running to redrive from another shell"
        )
