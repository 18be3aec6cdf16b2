"""The ``local`` subcommand: arguments in, the flow run, a table (or JSON lines) out.

Exit status (README, "Command line"): 0 when every upload that matched a processor ended
processed (skipped, gone and no match count as fine); 1 for bad input, usage or an
emulator problem; 2 when the flow ran and uploads ended dead-lettered or lost; 128+N
when signal N stopped it before every ``--upload`` was made (130 Ctrl-C, 143 SIGTERM).

``--watch`` and ``--keep-running`` serve until Ctrl-C or SIGTERM (``serve.py``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from private_s3_processor import ExpansionError

from ..output import PROG, fail
from ..quota import QuotaLimits
from ..templates import OFFLINE_PREFIX_LIST, command_problems, load_template
from .emulator import emulator_at
from .launches import LaunchFaults
from .model import LocalError, Processor, Row
from .report import counts, print_results, progress, status_line
from .serve import left_in_queues, serve
from .session import deploy
from .stack import expand_for_emulator
from .stop import Stop

NOT_PROCESSED = 2  # the flow ran; some uploads ended dead-lettered or lost


def run_local(args: argparse.Namespace) -> int:
    with Stop() as stop:
        try:
            problems = _preflight(Path(args.template), dict(args.parameter), args.processor)
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


def _preflight(path: Path, given: dict[str, str], chosen: str | None) -> list[str]:
    """Every problem of the template, found the way the run will find them (same
    expansion, same parameter stand-ins) plus the command line's own checks, among them
    the choice of processor: all before any emulator starts."""
    problems = command_problems(load_template(path), given) if path.exists() else []
    try:
        expanded, _ = expand_for_emulator(path, given, {"ec2": _OfflineEc2()}, lambda _: None)
    except ExpansionError as exc:
        return [*problems, *exc.messages]
    except LocalError as exc:
        return [*problems, str(exc)]
    choice = _choice_problem(_processor_names(expanded), chosen)
    return [*problems, choice] if choice else problems


def _processor_names(expanded: Mapping[str, Any]) -> list[str]:
    """The processors of an expanded template, as the session will find them: each
    bucket the macro marked with its processor's logical ID (``stack.deployed``)."""
    names = []
    for resource in (expanded.get("Resources") or {}).values():
        own = (resource.get("Metadata") or {}).get("PrivateS3Processor")
        if resource.get("Type") == "AWS::S3::Bucket" and own:
            names.append(str(own["Processor"]))
    return names


def _choice_problem(names: list[str], chosen: str | None) -> str | None:
    """What is wrong with ``--processor`` (or its absence) given the template's
    processors; a typo gets the closest names, as git and the AWS CLI offer them."""
    if chosen is None:
        if len(names) > 1:
            return (
                f"the template has several processors ({', '.join(names)}): choose whose "
                "bucket receives the uploads with --processor"
            )
        return None
    if chosen in names:
        return None
    folded = {name.casefold(): name for name in names}
    close = [folded[n] for n in difflib.get_close_matches(chosen.casefold(), list(folded))]
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"--processor {chosen}: no such processor; {hint}the template's processors: " + (
        ", ".join(names)
    )


def _fits_the_quota(processors: Mapping[str, Processor], limits: QuotaLimits) -> None:
    """A task larger than the whole vCPU quota could never launch: said before anything
    is uploaded, not discovered as a queue that never drains."""
    for p in processors.values():
        if p.vcpus > limits.vcpu_quota:
            raise LocalError(
                f"--vcpu-quota {limits.vcpu_quota:g} is smaller than one task of "
                f"{p.logical_id} ({p.vcpus:g} vCPU): no task of it could launch"
            )


def _run(args: argparse.Namespace, stop: Stop) -> int:
    files = uploads(args.upload)
    if args.watch and not Path(args.watch).is_dir():
        raise LocalError(f"--watch {args.watch}: not a folder")
    try:
        faults = LaunchFaults(args.fail_launches, args.throttle_launches, args.seed)
        limits = QuotaLimits(
            launch_burst=args.launch_burst,
            launch_rate=args.launch_rate,
            vcpu_quota=args.vcpu_quota,
        )
    except ValueError as exc:
        raise LocalError(str(exc)) from None
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / "private-s3-processor-moto.log"
    with emulator_at(args.endpoint_url, log) as endpoint:
        if stop.requested:
            return _interrupted(stop, "while the emulator was starting")
        progress(f"emulator at {endpoint}")
        emulator_ready = time.monotonic()
        session = deploy(
            endpoint,
            Path(args.template),
            dict(args.parameter),
            progress,
            concurrency=args.concurrency,
            faults=faults,
            time_scale=args.time_scale,
            limits=limits,
        )
        stack_ready = time.monotonic()
        total = None if args.watch else len(files)
        with session, status_line(lambda: counts(session.results(), total)):
            _fits_the_quota(session.processors, limits)
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
                serve(session, stop, args, target)
            session.settle()
        rows = session.results()
        print_results(
            rows,
            as_json=args.json,
            retriggered=len(session.retriggered),
            faults=session.faults,
            elapsed=time.monotonic() - started,
            phases={
                "emulator": emulator_ready - started,
                "stack": stack_ready - emulator_ready,
                "uploads to results": time.monotonic() - stack_ready,
            },
            quota=session.ecs.quota.counts,
            notes=session.notes,
        )
        code, failures = _outcome(rows)
        left_in_queues(session, emulator_stays=bool(args.endpoint_url))
    if made < len(files):
        return _interrupted(stop, f"after {made} of {len(files)} uploads")
    if failures:
        print(f"{PROG} local: {failures} (exit {code})", file=sys.stderr)
    return code


def _interrupted(stop: Stop, when: str) -> int:
    name = signal.Signals(stop.signum).name
    print(f"{PROG} local: stopped by {name} {when}", file=sys.stderr)
    return 128 + stop.signum


def _target(processors: dict[str, Processor], chosen: str | None) -> Processor:
    """The processor receiving the uploads (checked before the emulator started; checked
    again against what the stack holds)."""
    problem = _choice_problem(list(processors), chosen)
    if problem:
        raise LocalError(problem)
    return processors[chosen] if chosen is not None else next(iter(processors.values()))


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


def split_upload(spec: str) -> tuple[Path, str]:
    """``PATH[=KEY]`` -> (path, key or ""). File names and keys may both hold ``=``
    (``a+b=c.jpg=images/a+b=c.jpg``): a PATH that exists as given is the whole of it;
    else the split is at the last ``=`` that leaves an existing PATH (the longest one
    wins), and the rest, ``=`` and all, is the key."""
    if Path(spec).exists():
        return Path(spec), ""
    at = len(spec)
    while (at := spec.rfind("=", 0, at)) > 0:
        if Path(spec[:at]).exists():
            return Path(spec[:at]), spec[at + 1 :]
    tried = [spec[:i] for i, c in enumerate(spec) if c == "=" and i > 0]
    if not tried:
        raise LocalError(f"--upload {spec}: {spec or 'the path'} does not exist")
    raise LocalError(
        f"--upload {spec}: no file or folder at any PATH before an '=' "
        f"({', '.join([spec, *reversed(tried)])} do not exist)"
    )


def uploads(specs: list[str]) -> list[tuple[Path, str]]:
    """``PATH[=KEY]`` -> (file, key); a folder gives its files, keyed by relative path."""
    found: list[tuple[Path, str]] = []
    for spec in specs:
        path, key = split_upload(spec)
        if path.is_dir():
            prefix = key.rstrip("/") + "/" if key else ""
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                found.append((file, prefix + file.relative_to(path).as_posix()))
        else:
            found.append((path, key or path.name))
    for _, key in found:
        if "\n" in key:
            # S3 accepts it (and Orchestrated carries it); moto's S3 routes stop at a line
            # feed and answer 404, so the emulator cannot hold the object at all.
            raise LocalError(
                f"--upload key {json.dumps(key, ensure_ascii=False)} holds a line feed, which "
                "the emulator (moto) cannot store; S3 itself accepts it"
            )
    return found
