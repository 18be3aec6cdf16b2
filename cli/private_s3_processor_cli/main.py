"""``private-s3-processor``: the entry point. Parses the command line (``commands``),
runs the subcommand, and turns any failure into one line and an exit status; ``expand``,
``diagram`` and ``cost`` are run here, ``local`` and ``redrive`` by their own modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from private_s3_processor import ExpansionError

from .commands import parser
from .diagram import mermaid
from .output import fail
from .templates import (
    OFFLINE_PREFIX_LIST,
    command_problems,
    expand_document,
    has_processors,
    load_template,
    render,
    with_problems,
)

__all__ = ["main", "parser"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the contract: never a traceback, even for a bug
        return fail(
            args.command, [f"internal error ({type(exc).__name__}: {exc}); please report it"]
        )


def _run(args: argparse.Namespace) -> int:
    if args.command == "expand":
        return _expand(args)
    if args.command == "diagram":
        return _diagram(args)
    if args.command == "local":
        from .local.command import run_local

        return run_local(args)
    if args.command == "redrive":
        from .redrive_command import run_redrive

        return run_redrive(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "cost":
        return _cost(args)
    if args.command == "completion":
        return _completion(args)
    return 2  # pragma: no cover - argparse enforces the choices


def _expanded(
    args: argparse.Namespace, *, only_processors: bool = False, **context: Any
) -> dict[str, Any]:
    """The template of ``args`` expanded, after the checks only the command line can make;
    every problem found raises ``ExpansionError``. With ``only_processors``, a template
    holding no processor (one already expanded) is returned as it is."""
    template = load_template(args.template)
    given = dict(args.parameter)
    if only_processors and not has_processors(template):
        return with_problems(command_problems(template, given), lambda: template)
    return with_problems(
        command_problems(template, given),
        lambda: expand_document(template, parameters=given, **context),
    )


def _expand(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    try:
        result = _expanded(
            args,
            region=args.region,
            account_id=args.account_id,
            prefix_list_id=args.s3_prefix_list_id or OFFLINE_PREFIX_LIST,
            warnings=warnings,
        )
    except ExpansionError as exc:
        # As CloudFormation shows them, a problem a line (its errorMessage joins them).
        return fail(None, exc.messages)
    target = args.output_file if args.output_file != "-" else None
    text = render(result, args.format or _format_of(target))
    if target:
        try:
            Path(target).write_text(text, encoding="utf-8")
        except OSError as exc:
            return fail("expand", [f"-o {target}: cannot write: {exc.strerror}"])
    else:
        sys.stdout.write(text)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.s3_prefix_list_id is None:
        print(
            f"note: S3 prefix list not looked up offline; the template uses the stand-in "
            f"{OFFLINE_PREFIX_LIST} (give --s3-prefix-list-id for the real one)",
            file=sys.stderr,
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .validate import run_validate

    return run_validate(args)


def _format_of(target: str | None) -> str:
    """Without --format: YAML for a file named .yaml or .yml (as ``sam package
    --output-template-file packaged.yaml`` writes), else JSON."""
    return "yaml" if target and Path(target).suffix.lower() in (".yaml", ".yml") else "json"


def _diagram(args: argparse.Namespace) -> int:
    try:
        result = _expanded(args)
    except ExpansionError as exc:
        return fail(None, exc.messages)
    sys.stdout.write(mermaid(result))
    return 0


def _completion(args: argparse.Namespace) -> int:
    from .completion import CompletionError, script

    try:
        sys.stdout.write(script(parser(), args.shell))
    except CompletionError as exc:
        return fail("completion", [str(exc)])
    return 0


def _cost(args: argparse.Namespace) -> int:
    from .cost import CostError, Prices, Volume, estimate, render

    try:
        if args.files is not None and args.files < 0:
            raise CostError(f"--files must be 0 or more (got {args.files})")
        prices = Prices.load(args.prices)
        template = _expanded(args, only_processors=True)
        given = dict(args.parameter)
        volume = Volume(args.files, args.bursts, args.startup)
        result = estimate(
            template, prices, duration_s=args.duration, parameters=given, volume=volume
        )
    except ExpansionError as exc:
        return fail("cost", exc.messages)
    except CostError as exc:
        return fail("cost", [str(exc)])
    if args.json:
        print(json.dumps(result.as_json(args.files), indent=2))
    else:
        sys.stdout.write(render(result, args.files))
    return 0
