"""The ``local`` subcommand: arguments in, the flow run, a table (or JSON lines) out."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from private_s3_processor import ExpansionError

from . import local
from .launches import LaunchFaults
from .local import LocalError, Session
from .output import fail
from .templates import OFFLINE_PREFIX_LIST, command_problems, load_template


def _progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def run_local(args: argparse.Namespace) -> int:
    try:
        problems = _preflight(Path(args.template), dict(args.parameter))
        if problems:
            return fail("local", problems)
        return _run(args)
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


def _run(args: argparse.Namespace) -> int:
    files = local.uploads(args.upload)
    if args.watch and not Path(args.watch).is_dir():
        raise LocalError(f"--watch {args.watch}: not a folder")
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / "private-s3-processor-moto.log"
    with local.emulator(args.endpoint_url, log) as endpoint:
        _progress(f"emulator at {endpoint}")
        try:
            faults = LaunchFaults(args.fail_launches, args.throttle_launches, args.seed)
        except ValueError as exc:
            raise LocalError(str(exc)) from None
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
            for path, key in files:
                session.upload(path, key, target)
                session.dispatch()
            if args.watch:
                _watch(session, Path(args.watch), target)
            session.settle()
        rows = session.results()
        if args.json:
            for row in rows:
                print(json.dumps(row.as_json(), ensure_ascii=False))
        else:
            sys.stdout.write(local.table(rows))
            for row in rows:
                for output in row.outputs:
                    print(f"  {row.key} -> s3://{row.bucket}/{output}")
            matched = sum(1 for r in rows if r.processor)
            outcomes = Counter(r.outcome for r in rows if r.processor)
            print(
                f"{len(rows)} uploads, {matched} matched a processor, "
                f"{sum(1 for r in rows if r.exit_code == 0)} processed (exit 0), "
                f"{len(session.retriggered)} outputs re-triggered a processor; "
                f"{time.monotonic() - started:.1f}s"
            )
            if (
                set(outcomes) - {"processed"}
                or session.faults.failures
                or session.faults.throttling
            ):
                print(
                    "outcomes: "
                    + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
                    + "; launch attempts: "
                    + ", ".join(f"{n} {k}" for k, n in sorted(session.faults.drawn.items()))
                )
        if args.keep_running:
            print(
                f"emulator still running at {endpoint} (AWS_ENDPOINT_URL={endpoint}); "
                "Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            while True:
                time.sleep(3600)
    return 0


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


def _watch(session: Session, folder: Path, target: local.Processor) -> None:
    """Upload each new file once its size has stopped changing; until Ctrl-C.

    Ctrl-C only sets a flag, so it never lands in the middle of an upload or an
    emulator call; the loop then stops and the session settles as usual."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    seen: set[Path] = {p for p in folder.rglob("*") if p.is_file()}
    sizes: dict[Path, int] = {}
    _progress(f"watching {folder} (Ctrl-C to stop)")
    try:
        while not stop.is_set():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                if path in seen:
                    continue
                size = path.stat().st_size
                if sizes.get(path) == size:
                    seen.add(path)
                    session.upload(path, path.relative_to(folder).as_posix(), target)
                else:
                    sizes[path] = size
            session.dispatch()
            stop.wait(0.5)
    finally:
        signal.signal(signal.SIGINT, previous)
    _progress("stopped watching")
