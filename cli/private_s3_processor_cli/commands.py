"""The command line's grammar: one parser builder per subcommand, and the option types
they share. ``main`` parses with ``parser()`` and dispatches; nothing here runs a command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from private_s3_processor.version import __version__

from .commands_templates import diagram_command, expand_command, validate_command
from .option_types import parameter_option, positive, share, url
from .output import PROG


class _Parser(argparse.ArgumentParser):
    """Usage errors as every other bad input: one line on stderr, exit 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message} (see --help)\n")


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
        expand_command,
        validate_command,
        diagram_command,
        _local_command,
        _cost_command,
        _redrive_command,
        _completion_command,
    ):
        add(sub)
    return top


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
    parameter_option(loc)
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
        type=share,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of launch attempts that answer 200 with failures[] (no capacity)",
    )
    loc.add_argument(
        "--throttle-launches",
        type=share,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of launch attempts that are throttled",
    )
    loc.add_argument(
        "--seed", type=int, metavar="N", help="seed of the simulated faults and jitter"
    )
    loc.add_argument(
        "--time-scale",
        type=positive(float),
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
        type=positive(int),
        default=limits.launch_burst,
        metavar="N",
        help="tasks Fargate launches at once before throttling: its token bucket "
        f"(default {limits.launch_burst}, AWS's)",
    )
    loc.add_argument(
        "--launch-rate",
        type=positive(float),
        default=limits.launch_rate,
        metavar="PER_S",
        help="the token bucket's refill, tasks per simulated second "
        f"(default {limits.launch_rate:g}, AWS's)",
    )
    loc.add_argument(
        "--vcpu-quota",
        type=positive(float),
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
    parameter_option(cost)
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
        type=url,
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
