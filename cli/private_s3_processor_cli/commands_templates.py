"""The parsers of the commands that read templates offline: ``expand`` (its input and
output options), ``validate`` and ``diagram``."""

from __future__ import annotations

import argparse
from typing import Any

from .option_types import key_value, parameter_option
from .templates import DEFAULT_ACCOUNT, DEFAULT_REGION, FORMATS, OFFLINE_PREFIX_LIST


def expand_command(sub: argparse._SubParsersAction[Any]) -> None:
    exp = sub.add_parser(
        "expand",
        help="run the macro's expansion locally and print the processed template",
        description="Runs the same expansion the macro Lambda runs, offline, and prints the "
        "processed template as JSON or YAML. On invalid input: exit 1, nothing on stdout, "
        "CloudFormation's message on stderr, one problem a line.",
    )
    exp.add_argument("template", help="template file (YAML or JSON); - reads standard input")
    _format_options(exp)
    parameter_option(exp)
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
    # choices beside the type: the type's own message refuses other values first, and
    # shell completion offers the choices.
    choice.add_argument(
        "--format",
        type=_output_format("--format"),
        choices=FORMATS,
        metavar="{json,yaml}",
        help="json (the default) or yaml, with CloudFormation's short forms (!Ref, !GetAtt, "
        "!Sub); with --output-file NAME.yaml or .yml, yaml",
    )
    choice.add_argument(
        "--output",
        dest="format",
        type=_output_format("--output"),
        choices=FORMATS,
        metavar="{json,yaml}",
        help="the same as --format, as in the AWS CLI",
    )
    exp.add_argument(
        "-o",
        "--output-file",
        type=_output_file,
        metavar="FILE",
        help="write the template to FILE instead of stdout (- is stdout)",
    )


def validate_command(sub: argparse._SubParsersAction[Any]) -> None:
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
        type=key_value,
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


def diagram_command(sub: argparse._SubParsersAction[Any]) -> None:
    dia = sub.add_parser(
        "diagram",
        help="print a Mermaid diagram of what a template expands into",
        description="Expands TEMPLATE (as `expand` does) and prints a Mermaid flowchart of the "
        "resources: one box per resource, grouped by processor, an arrow where one "
        "resource uses another (labelled with the property).",
    )
    dia.add_argument("template", help="template file (YAML or JSON)")
    parameter_option(dia)
