"""The command line's grammar: one parser builder per subcommand, and the option types
they share. ``main`` parses with ``parser()`` and dispatches; nothing here runs a command."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, NoReturn

from private_s3_processor.version import __version__

from .output import PROG
from .templates import DEFAULT_ACCOUNT, DEFAULT_REGION, FORMATS, OFFLINE_PREFIX_LIST


class _Parser(argparse.ArgumentParser):
    """Usage errors as every other bad input: one line on stderr, exit 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message} (see --help)\n")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _url(text: str) -> str:
    """An endpoint URL as botocore accepts one: http(s)://host[:port][/path]."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected http(s)://HOST[:PORT], got {text!r}")
    return text


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (got {text})")
    return value


def _positive(kind: type[int] | type[float]) -> Any:
    """An option type: a finite number above 0 (``int`` or ``float``)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a number above 0 (got {text})")
        return value

    return parse


def _parameter_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--parameter",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="a template parameter value (repeatable)",
    )


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog=PROG,
        description="A CloudFormation macro that expands Type: PrivateS3Processor into a "
        "private S3 -> EventBridge -> Fargate pipeline.",
    )
    top.add_argument(
        "--version",
        action="version",
        version=f"{PROG} {__version__}",
        help="print the version and exit",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _expand_command,
        _validate_command,
        _diagram_command,
        _local_command,
        _cost_command,
        _redrive_command,
        _completion_command,
    ):
        add(sub)
    return top


def _expand_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    exp = sub.add_parser(
        "expand",
        help="run the macro's expansion locally and print the processed template",
        description="Runs the same expansion the macro Lambda runs, offline, and prints the "
        "processed template as JSON or YAML. On invalid input: exit 1, nothing on stdout, "
        "CloudFormation's message on stderr, one problem a line.",
    )
    exp.add_argument("template", help="template file (YAML or JSON); - reads standard input")
    _format_options(exp)
    _parameter_option(exp)
    exp.add_argument(
        "--region",
        default=DEFAULT_REGION,
        help="the AWS Region the expansion assumes (AWS::Region, ARNs, endpoints); offline, "
        f"nothing is called (default {DEFAULT_REGION})",
    )
    exp.add_argument(
        "--account-id",
        default=DEFAULT_ACCOUNT,
        help="the account ID the expansion assumes (AWS::AccountId, ARNs); offline, nothing "
        f"is called (default {DEFAULT_ACCOUNT})",
    )
    exp.add_argument(
        "--s3-prefix-list-id",
        default=None,
        metavar="PL_ID",
        help="S3's managed prefix list in the region (the macro looks it up; "
        f"offline the default is the stand-in {OFFLINE_PREFIX_LIST})",
    )


# The AWS CLI's --output values: none of them names a file anyone means to write.
_FORMAT_WORDS = ("json", "yaml", "yaml-stream", "text", "table")


def _output_format(option: str) -> Any:
    def parse(text: str) -> str:
        if text in FORMATS:
            return text
        # The AWS CLI's other formats are formats too: no file hint for them, since
        # --output-file refuses a bare format name (_output_file).
        hint = (
            f"; to write a file use --output-file {text}"
            if option == "--output" and text.lower() not in _FORMAT_WORDS
            else ""
        )
        raise argparse.ArgumentTypeError(f"{text!r} is not a format: {' or '.join(FORMATS)}{hint}")

    return parse


def _complete_choices(action: argparse.Action, choices: tuple[str, ...]) -> None:
    """Shell completion offers ``choices`` for an option whose type checks them itself
    with its own message: argparse tests choices only after the type accepted a value,
    so they change nothing else, and shtab completes them."""
    action.choices = choices


def _output_file(text: str) -> str:
    """A file name, but not a bare format name: ``-o yaml`` is kubectl's and the old
    ``--output yaml``'s way to ask for YAML, and would write a file named ``yaml``."""
    if text.lower() in _FORMAT_WORDS:
        fmt = text.lower() if text.lower() in FORMATS else "json or yaml"
        raise argparse.ArgumentTypeError(
            f"{text!r} is a format, not a file: use --format {fmt}; for a file of that "
            f"name write ./{text}"
        )
    return text


def _format_options(exp: argparse.ArgumentParser) -> None:
    """``--format``/``--output`` (the AWS CLI's name) choose JSON or YAML;
    ``-o``/``--output-file`` (cfn-lint's name) the file."""
    choice = exp.add_mutually_exclusive_group()
    fmt = choice.add_argument(
        "--format",
        type=_output_format("--format"),
        metavar="{json,yaml}",
        help="json (the default) or yaml, with CloudFormation's short forms (!Ref, !GetAtt, "
        "!Sub); with --output-file NAME.yaml or .yml, yaml",
    )
    out = choice.add_argument(
        "--output",
        dest="format",
        type=_output_format("--output"),
        metavar="{json,yaml}",
        help="the same as --format, as in the AWS CLI",
    )
    for action in (fmt, out):
        _complete_choices(action, FORMATS)
    exp.add_argument(
        "-o",
        "--output-file",
        type=_output_file,
        metavar="FILE",
        help="write the template to FILE instead of stdout (- is stdout)",
    )


def _validate_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    from .validate_formats import FORMATTERS

    val = sub.add_parser(
        "validate",
        help="check templates as the macro would, without writing an expansion (CI, pre-commit)",
        description="Runs the macro's checks on each TEMPLATE (the same expansion `expand` "
        "runs, its output discarded) and prints each problem found, one a line, at "
        "file:line:column when the template has them. Templates that do not use the "
        "transform are not the macro's to check.",
        epilog="Exit status, as cfn-lint's: 0 nothing found; 2 an error; 4 a warning; their "
        "OR over all templates (6: both); 1 bad usage.",
    )
    val.add_argument(
        "templates",
        nargs="+",
        metavar="TEMPLATE",
        help="template file (YAML or JSON); - reads standard input",
    )
    val.add_argument(
        "--format",
        choices=tuple(FORMATTERS),
        default="parseable",
        help="as cfn-lint's: parseable (the default: file:line:column:end_line:end_column:"
        "rule:message), json, sarif (SARIF 2.1.0) or junit (JUnit XML)",
    )
    val.add_argument(
        "--parameter",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="a parameter value, given to each template that declares it (repeatable)",
    )
    val.add_argument(
        "--region",
        default=DEFAULT_REGION,
        help=f"the AWS Region the checks assume; nothing is called (default {DEFAULT_REGION})",
    )
    val.add_argument(
        "--account-id",
        default=DEFAULT_ACCOUNT,
        help=f"the account ID the checks assume; nothing is called (default {DEFAULT_ACCOUNT})",
    )


def _diagram_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    dia = sub.add_parser(
        "diagram",
        help="print a Mermaid diagram of what a template expands into",
        description="Expands TEMPLATE (as `expand` does) and prints a Mermaid flowchart of the "
        "resources: one box per resource, grouped by processor, an arrow where one "
        "resource uses another (labelled with the property).",
    )
    dia.add_argument("template", help="template file (YAML or JSON)")
    _parameter_option(dia)


def _local_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    loc = sub.add_parser(
        "local",
        help="run the whole flow on a local AWS emulator (moto)",
        description="Expands TEMPLATE, creates it as a stack in a moto server, uploads files, "
        "and plays each S3 event through the processors' rules, InputTransformers "
        "and RunTask, running the worker as a local process.",
        epilog="Exit status: 0 every upload that matched a processor ended processed (skipped, "
        "gone and no match count as fine); 1 bad input, usage or an emulator problem; 2 the "
        "flow ran and uploads ended dead-lettered or lost (named on stderr); 128+N stopped by "
        "signal N (130 Ctrl-C, 143 SIGTERM) before every --upload was made. With --watch or "
        "--keep-running, Ctrl-C or SIGTERM is the way to stop: it prints the table, stops the "
        "emulator and exits 0 or 2. A second signal stops at once, without the table.",
    )
    loc.add_argument(
        "template",
        nargs="?",
        default="build/example.yaml",
        help="template using the transform (default: build/example.yaml)",
    )
    _parameter_option(loc)
    loc.add_argument(
        "--processor",
        metavar="LOGICAL_ID",
        help="whose bucket receives the uploads (needed with several processors)",
    )
    loc.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="PATH[=KEY]",
        help="upload a file (key: KEY, or its name) or a folder (keys: relative "
        "paths, under KEY/ if given); repeatable. PATH may hold '=': a PATH that exists as "
        "given is uploaded whole, else the split is at the last '=' that leaves an existing "
        "PATH",
    )
    loc.add_argument(
        "--watch",
        metavar="DIR",
        help="upload new files of DIR as they appear, and run what redrive re-submits, "
        "until Ctrl-C or SIGTERM",
    )
    loc.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per upload on stdout instead of the table",
    )
    _local_run_options(loc)


def _local_run_options(loc: argparse.ArgumentParser) -> None:
    """How the local flow runs: simulated faults, pace, concurrency, emulator, lifetime."""
    loc.add_argument(
        "--fail-launches",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of launch attempts that answer 200 with failures[] (no capacity)",
    )
    loc.add_argument(
        "--throttle-launches",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of launch attempts that are throttled",
    )
    loc.add_argument(
        "--seed", type=int, metavar="N", help="seed of the simulated faults and jitter"
    )
    loc.add_argument(
        "--time-scale",
        type=_positive(float),
        default=1.0,
        metavar="FACTOR",
        help="multiply retry waits by FACTOR and run the simulated clock (the launch quota, "
        "Queued's alarms) 1/FACTOR times as fast (e.g. 0.01 for load tests; default 1)",
    )
    _quota_options(loc)
    loc.add_argument(
        "--concurrency", type=int, default=2, metavar="N", help="tasks run at once (default 2)"
    )
    loc.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="use this running moto server instead of starting one (an emulator only: the "
        "local flow never calls AWS, so it takes no --profile or --region)",
    )
    loc.add_argument(
        "--keep-running",
        action="store_true",
        help="after the uploads, stay up until Ctrl-C or SIGTERM: print the endpoint, region, "
        "stack and a ready-to-paste redrive command for each dead-letter queue that fills, "
        "and run what redrive re-submits",
    )


def _quota_options(loc: argparse.ArgumentParser) -> None:
    """The simulated account's Fargate quotas, met by every delivery mode."""
    from .quota import QuotaLimits

    limits = QuotaLimits()
    loc.add_argument(
        "--launch-burst",
        type=_positive(int),
        default=limits.launch_burst,
        metavar="N",
        help="tasks Fargate launches at once before throttling: its token bucket "
        f"(default {limits.launch_burst}, AWS's)",
    )
    loc.add_argument(
        "--launch-rate",
        type=_positive(float),
        default=limits.launch_rate,
        metavar="PER_S",
        help="the token bucket's refill, tasks per simulated second "
        f"(default {limits.launch_rate:g}, AWS's)",
    )
    loc.add_argument(
        "--vcpu-quota",
        type=_positive(float),
        default=limits.vcpu_quota,
        metavar="VCPUS",
        help="vCPUs of tasks running at once; beyond it RunTask answers failures[] "
        f"(default {limits.vcpu_quota:g}, AWS's)",
    )


def _cost_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    cost = sub.add_parser(
        "cost",
        help="the fixed monthly cost and the cost per processed file of a template",
        description="Prices a template (expanded first when it uses the transform) from a "
        "price table with its region and date: the fixed monthly cost (interface endpoints "
        "per AZ-hour, alarms per metric they read) and the variable cost per processed file "
        "(Fargate with its one-minute minimum, by architecture; Step Functions transitions "
        "when Orchestrated; when Queued, the service's tasks: processing time divided by "
        "Concurrency, which assumes I/O-bound objects, plus start-up and the idle tail per "
        "task per scale-out burst, and SQS requests, all read from the expanded template), "
        "beside the original design's fixed cost.",
    )
    cost.add_argument("template", help="template file (YAML or JSON), expanded or not")
    _parameter_option(cost)
    cost.add_argument(
        "--duration",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="average processing time per file: the task's duration when Direct or "
        "Orchestrated (default 60)",
    )
    cost.add_argument(
        "--files",
        type=int,
        metavar="N",
        help="files processed a month per processor (adds monthly totals, the all-in cost per "
        "file, and a Queued processor's start-up and idle share)",
    )
    cost.add_argument(
        "--bursts",
        type=int,
        default=0,
        metavar="N",
        help="Queued: scale-out bursts a month, each starting the tasks the scaling policy "
        "asks for, and paying their start-up and idle tail (default 0: files spread evenly "
        "over the month); needs --files, at most --files",
    )
    cost.add_argument(
        "--startup",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="Queued: billed seconds of a task before it takes its first message (image "
        "pull and start; default 30)",
    )
    cost.add_argument(
        "--prices", type=Path, metavar="FILE", help="price table (default: the bundled us-east-1)"
    )
    cost.add_argument("--json", action="store_true", help="print JSON instead of the table")


def _redrive_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    from .redrive_keys import DEFAULT_SEARCH_LIMIT, search_limit

    red = sub.add_parser(
        "redrive",
        help="re-submit the uploads a processor's dead-letter queue holds",
        description="Reads the processor's dead-letter queue and re-submits each recorded "
        "upload the way its rule delivers it (StartExecution when Orchestrated, RunTask "
        "with the rule target's parameters when Direct, SendMessage of the same event to "
        "the processor's queue when Queued). A key EventBridge changed on the "
        "way (Direct, a key with a backslash) is recovered from the upload's version ID "
        "first. A message is deleted only after its re-submission was accepted; every other "
        "message is left visible and reported with the reason.",
        epilog="Exit status: 0 every message was re-submitted (or would be, with --dry-run); "
        "1 a message was kept (unreadable, another bucket's, incomplete, key not recovered, "
        "re-submission refused), or bad input, a missing stack, region or credentials.",
    )
    red.add_argument(
        "--stack", required=True, metavar="STACK", help="the stack holding the processor"
    )
    red.add_argument(
        "--processor",
        required=True,
        metavar="LOGICAL_ID",
        help="the processor's logical ID in the template (its dead-letter queue is read)",
    )
    red.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be re-submitted (recovering keys too); change nothing",
    )
    red.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per message: message, action, upload, reason or started, and "
        "key and delivered_key when a key was recovered",
    )
    red.add_argument(
        "--search-limit",
        type=search_limit,
        default=DEFAULT_SEARCH_LIMIT,
        metavar="N",
        help="object versions listed at most per run to recover changed keys "
        f"(default {DEFAULT_SEARCH_LIMIT:,}: about 100 ListObjectVersions requests)",
    )
    _aws_options(red)


def _aws_options(red: argparse.ArgumentParser) -> None:
    """Where redrive's AWS calls go and with which credentials."""
    red.add_argument(
        "--profile",
        help="AWS profile of ~/.aws/config (default: AWS_PROFILE, then the AWS SDK's "
        "credential chain; with --endpoint-url, the local emulator's dummy credentials)",
    )
    red.add_argument(
        "--region",
        help="AWS Region (default: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's; "
        "with --endpoint-url and no --profile, the local emulator's)",
    )
    red.add_argument(
        "--endpoint-url",
        type=_url,
        metavar="URL",
        help="send every AWS call here: an emulator, such as `local --keep-running`'s",
    )


def _completion_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    from .completion import SHELLS

    com = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Prints a completion script for SHELL, generated from this parser (by "
        'shtab): every subcommand, option and choice. See the README, "Shell completion", '
        "for where to put it.",
    )
    com.add_argument("shell", choices=SHELLS, help="the shell to complete in: " + ", ".join(SHELLS))
