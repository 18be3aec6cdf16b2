"""The ``local`` subcommand: arguments in, the flow run, a table (or JSON lines) out.

Exit status (README, "Command line"): 0 when every upload that matched a processor ended
processed (skipped, gone and no match count as fine); 1 for bad input, usage or an
emulator problem; 2 when the flow ran and uploads ended dead-lettered or lost; 128+N
when signal N stopped it before every ``--upload`` was made (130 Ctrl-C, 143 SIGTERM).

``--watch`` and ``--keep-running`` serve until Ctrl-C or SIGTERM: they upload new files,
run what someone else started in the emulator (``redrive``), and print a ready-to-paste
``redrive`` command whenever a dead-letter queue fills.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any

from private_s3_processor import ExpansionError

from . import local
from .emulator import CREDENTIALS, stop_all
from .launches import LaunchFaults
from .local import LocalError, Row, Session
from .output import PROG, fail
from .templates import OFFLINE_PREFIX_LIST, command_problems, load_template

NOT_PROCESSED = 2  # the flow ran; some uploads ended dead-lettered or lost
STOP_SIGNALS = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None
)


def _progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


class _Stop:
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

    def __enter__(self) -> _Stop:
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
            _say_now(f"{PROG} local: stopped at once by a second signal ({name})")
            local.stop_workers()
            stop_all()
            os._exit(128 + signum)
        self.signum = signum
        _say_now(f"· stopping ({name}): the running tasks end; a second signal stops at once")


def _say_now(line: str) -> None:
    """A line on stderr from a signal handler: os.write, as the main thread may be inside
    a print to stderr; never an exception (stderr may be closed)."""
    with suppress(OSError):
        os.write(2, f"{line}\n".encode())


def run_local(args: argparse.Namespace) -> int:
    with _Stop() as stop:
        try:
            problems = _preflight(Path(args.template), dict(args.parameter))
            if problems:
                return fail("local", problems)
            return _run(args, stop)
        except ExpansionError as exc:
            return fail("local", exc.messages)
        except LocalError as exc:
            return fail("local", [str(exc)])
        except KeyboardInterrupt:
            return 130


class _OfflineEc2:
    """Answers the one EC2 call the expansion makes (S3's prefix list) with the offline
    stand-in, so a template is checked completely before any emulator starts."""

    def describe_managed_prefix_lists(self, **_: Any) -> dict[str, Any]:
        return {"PrefixLists": [{"PrefixListId": OFFLINE_PREFIX_LIST}]}


def _preflight(path: Path, given: dict[str, str]) -> list[str]:
    """Every problem of the template, found the way the run will find them (same
    expansion, same parameter stand-ins) plus the command line's own checks."""
    problems = command_problems(load_template(path), given) if path.exists() else []
    try:
        local.expand_for_emulator(path, given, {"ec2": _OfflineEc2()}, lambda _: None)
    except ExpansionError as exc:
        return [*problems, *exc.messages]
    except LocalError as exc:
        return [*problems, str(exc)]
    return problems


def _run(args: argparse.Namespace, stop: _Stop) -> int:
    files = local.uploads(args.upload)
    if args.watch and not Path(args.watch).is_dir():
        raise LocalError(f"--watch {args.watch}: not a folder")
    try:
        faults = LaunchFaults(args.fail_launches, args.throttle_launches, args.seed)
    except ValueError as exc:
        raise LocalError(str(exc)) from None
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / "private-s3-processor-moto.log"
    with local.emulator(args.endpoint_url, log) as endpoint:
        if stop.requested:
            return _interrupted(stop, "while the emulator was starting")
        _progress(f"emulator at {endpoint}")
        session = local.deploy(
            endpoint,
            Path(args.template),
            dict(args.parameter),
            _progress,
            concurrency=args.concurrency,
            faults=faults,
            time_scale=args.time_scale,
        )
        with session:
            target = _target(session.processors, args.processor)
            made = 0
            for path, key in files:
                if stop.requested:
                    break
                session.upload(path, key, target)
                session.dispatch()
                made += 1
            if not stop.requested and (args.watch or args.keep_running):
                session.settle()
                _serve(session, stop, args, target)
            session.settle()
        rows = session.results()
        _print_results(args, session, rows, time.monotonic() - started)
        code, failures = _outcome(rows)
        _left_in_queues(session, emulator_stays=bool(args.endpoint_url))
    if made < len(files):
        return _interrupted(stop, f"after {made} of {len(files)} uploads")
    if failures:
        print(f"{PROG} local: {failures} (exit {code})", file=sys.stderr)
    return code


def _interrupted(stop: _Stop, when: str) -> int:
    name = signal.Signals(stop.signum).name
    print(f"{PROG} local: stopped by {name} {when}", file=sys.stderr)
    return 128 + stop.signum


def _target(processors: dict[str, local.Processor], chosen: str | None) -> local.Processor:
    if chosen is not None:
        if chosen not in processors:
            raise LocalError(
                f"--processor {chosen}: the template's processors are " + ", ".join(processors)
            )
        return processors[chosen]
    if len(processors) > 1:
        raise LocalError(
            "the template has several processors ("
            + ", ".join(processors)
            + "): choose whose bucket receives the uploads with --processor"
        )
    return next(iter(processors.values()))


def _serve(
    session: Session, stop: _Stop, args: argparse.Namespace, target: local.Processor
) -> None:
    """Until a stop signal: upload the new files of ``--watch``, run what someone else
    started in the emulator (``redrive``), and say how to redrive whenever a dead-letter
    queue receives messages."""
    folder = Path(args.watch) if args.watch else None
    watched = _Watched(folder) if folder else None
    if args.keep_running:
        sys.stderr.write(local.table(session.results()))
    endpoint = session.endpoint
    _progress(f"emulator at {endpoint}, region {local.REGION}, stack {session.stack}")
    _progress(
        f"for the AWS CLI: export AWS_ENDPOINT_URL={endpoint} AWS_REGION={local.REGION} "
        f"AWS_ACCESS_KEY_ID={CREDENTIALS['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={CREDENTIALS['AWS_SECRET_ACCESS_KEY']}"
    )
    held = _hint(session, {})
    _progress(
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
        held = _hint(session, held)
        time.sleep(0.5)


class _Watched:
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


def _hint(session: Session, before: dict[str, int]) -> dict[str, int]:
    """A ready-to-paste redrive command for each queue that holds more than ``before``;
    returns what each holds now."""
    now = dead_letters(session)
    for name, held in now.items():
        if held > before.get(name, 0):
            _progress(f"{name}: {_messages(held)} in its dead-letter queue; to re-submit:")
            print(f"    {redrive_command(session, name)}", file=sys.stderr, flush=True)
    return now


def _left_in_queues(session: Session, emulator_stays: bool) -> None:
    """What the dead-letter queues still hold at the end, and how to redrive it."""
    if emulator_stays:  # an emulator that `local` did not start outlives this run
        _hint(session, {})
        return
    for name, held in dead_letters(session).items():
        _progress(
            f"{name}: {_messages(held)} left in its dead-letter queue, which stops with the "
            "emulator: run again with --keep-running to redrive from another shell"
        )


def _outcome(rows: list[Row]) -> tuple[int, str]:
    """(0, ""), or NOT_PROCESSED and what ended dead-lettered or lost; LocalError when
    the emulator emitted no event for an upload (its fate is unknown)."""
    silent = [r.key for r in rows if r.status.startswith("no event")]
    if silent:
        raise LocalError(
            f"the emulator emitted no S3 event for {len(silent)} upload(s): "
            + ", ".join(silent[:5])
        )
    failed = Counter(r.outcome for r in rows if r.outcome in ("dead-lettered", "lost"))
    if not failed:
        return 0, ""
    return NOT_PROCESSED, ", ".join(
        f"{n} upload{'s' if n > 1 else ''} {o}" for o, n in sorted(failed.items())
    )


def _print_results(
    args: argparse.Namespace, session: Session, rows: list[Row], elapsed: float
) -> None:
    if args.json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=False))
        return
    sys.stdout.write(local.table(rows))
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
        + f"{len(session.retriggered)} outputs re-triggered a processor; {elapsed:.1f}s"
    )
    if set(outcomes) - {"processed"} or session.faults.failures or session.faults.throttling:
        print(
            "outcomes: "
            + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            + "; launch attempts: "
            + ", ".join(f"{n} {k}" for k, n in sorted(session.faults.drawn.items()))
        )
