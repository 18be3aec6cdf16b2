"""Parsing a template file safely: JSON or YAML with CloudFormation's short tags, where
hostile input fails fast with a located one-line message instead of hanging, crashing or
quietly meaning something else (DESIGN.md, "Hostile input"):

- a repeated mapping key is an error, in YAML and in JSON (parsers keep the last one
  silently; cfn-lint reports it as E0000, in the same words);
- YAML aliases may expand to at most ``MAX_EXPANDED_NODES`` values, cfn-lint's own bound:
  CloudFormation rejects aliases outright and ``aws cloudformation package`` or SAM expand
  them into a template that must still fit CloudFormation's size quota, so no deployable
  template comes near it, while a 525-byte "billion laughs" file expands to 387 million;
- maps and lists nest at most ``MAX_DEPTH`` deep;
- the file holds at most CloudFormation's 1 MB (``MAX_BYTES``), in UTF-8;
- YAML's unquoted dates stay the strings CloudFormation reads
  (``AWSTemplateFormatVersion: 2010-09-09``); the tags CloudFormation does not support
  (binary, omap, pairs, set) are errors; merge keys (``<<``) merge, as the AWS CLI and SAM
  do, instead of becoming a literal ``<<`` key; a key is the text written (``Yes: x`` keeps
  the key ``"Yes"``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .loader_bounds import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    Located,
    Problems,
)
from .loader_positions import JsonScan, Positions
from .loader_yaml import parse_yaml

# The bounds are named here too: this module is where templates are read.
__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "STDIN",
    "Parsed",
    "TemplateSyntaxError",
    "parse",
    "parse_located",
    "source_name",
]

# As for cat, the AWS CLI (file://-) and cfn-lint: "-" is standard input, named so.
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(frozen=True)
class Problem:
    """A problem with the file: 1-based ``line`` and ``column`` (None when the file as a
    whole is meant), and the text."""

    line: int | None
    column: int | None
    text: str

    def message(self, name: str) -> str:
        if self.line is None:
            return f"{name}: {self.text}"
        if self.column is None:
            return f"{name}:{self.line}: {self.text}"
        return f"{name}:{self.line}:{self.column}: {self.text}"


class TemplateSyntaxError(Exception):
    """The file cannot be read as a template; ``messages`` holds one line per problem,
    ``problems`` the same, located."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.problems = problems
        self.messages = [p.message(name) for p in problems]
        super().__init__("; ".join(self.messages))


@dataclass(frozen=True)
class Parsed:
    """A file's data and where its keys stand (``loader_positions``)."""

    name: str
    data: Any
    positions: Positions = field(default_factory=dict)


def source_name(path: str | Path) -> str:
    """How messages name the file: as given, or ``<stdin>`` for ``-``."""
    return STDIN_NAME if str(path) == STDIN else str(path)


def parse(path: str | Path) -> Any:
    """The file's data as plain JSON values (dict, list, str, int, float, bool, None);
    ``-`` reads standard input, within the same bounds."""
    return parse_located(path, keep_positions=False).data


def parse_located(path: str | Path, *, keep_positions: bool = True) -> Parsed:
    """``parse``, and with ``keep_positions`` where each key stands."""
    name = source_name(path)
    raw = _read(path, name)
    if len(raw) > MAX_BYTES:
        raise TemplateSyntaxError(
            name,
            [
                Problem(
                    None,
                    None,
                    f"more than {MAX_BYTES:,} bytes; CloudFormation allows {MAX_BYTES:,} "
                    "(CloudFormation quotas, template body size in an Amazon S3 object)",
                )
            ],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TemplateSyntaxError(
            name,
            [
                Problem(
                    line,
                    None,
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                )
            ],
        ) from None
    positions: Positions | None = {} if keep_positions else None
    try:
        data = _parse_text(text.removeprefix("\ufeff"), positions)
    except Located as exc:
        raise TemplateSyntaxError(name, [_problem(exc)]) from None
    except Problems as exc:
        raise TemplateSyntaxError(name, [_problem(p) for p in exc.problems]) from None
    return Parsed(name, data, positions or {})


def _read(path: str | Path, name: str) -> bytes:
    """At most one byte more than a template may hold, whatever the source holds."""
    if str(path) == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise TemplateSyntaxError(name, [Problem(None, None, "cannot read: no standard input")])
        try:
            data: bytes = stream.read(MAX_BYTES + 1)
        except OSError as exc:
            raise TemplateSyntaxError(
                name, [Problem(None, None, f"cannot read: {exc.strerror}")]
            ) from None
        return data
    try:
        with Path(path).open("rb") as file:
            return file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TemplateSyntaxError(
            name, [Problem(None, None, f"cannot read: {exc.strerror}")]
        ) from None


def _problem(problem: Located) -> Problem:
    return Problem(problem.line + 1, problem.column + 1, problem.text)


def _parse_text(text: str, positions: Positions | None) -> Any:
    if text.lstrip()[:1] not in ("{", "["):
        return parse_yaml(text, positions)
    try:
        return _parse_json(text, positions)
    except json.JSONDecodeError as json_error:
        # YAML's flow style looks like JSON without always being JSON ({Key: value}).
        try:
            return parse_yaml(text, positions)
        except Located:
            raise Located(
                json_error.lineno - 1,
                json_error.colno - 1,
                f"not valid JSON or YAML: {json_error.msg}",
            ) from None


# --- JSON -------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (ECMA-404, which CloudFormation follows)
    # has no such values.
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(text: str, positions: Positions | None) -> Any:
    scan = JsonScan(text, MAX_DEPTH, keep_positions=positions is not None)
    problems = list(scan.problems())
    if problems:
        raise Problems(problems)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise Located(0, 0, f"not valid JSON: {exc}") from None
    if positions is not None:
        positions.update(scan.positions)
    return data
