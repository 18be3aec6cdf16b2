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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .loader_bounds import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    Located,
    Problems,
    duplicate,
    position,
    too_deep,
)
from .loader_yaml import parse_yaml

# The bounds are named here too: this module is where templates are read.
__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "TemplateSyntaxError", "parse"]

# A JSON string (a key when a colon follows it) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[{}\[\]]', re.DOTALL)


class TemplateSyntaxError(Exception):
    """The file cannot be read as a template; ``messages`` holds one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


def parse(path: str | Path) -> Any:
    """The file's data as plain JSON values (dict, list, str, int, float, bool, None)."""
    name = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # never more, whatever the file holds
    except OSError as exc:
        raise TemplateSyntaxError([f"{name}: cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_BYTES:
        raise TemplateSyntaxError(
            [
                f"{name}: more than {MAX_BYTES:,} bytes; CloudFormation allows {MAX_BYTES:,} "
                "(CloudFormation quotas, template body size in an Amazon S3 object)"
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TemplateSyntaxError(
            [f"{name}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]
        ) from None
    try:
        return _parse_text(text.removeprefix("\ufeff"))
    except Located as exc:
        raise TemplateSyntaxError([_where(name, exc)]) from None
    except Problems as exc:
        raise TemplateSyntaxError([_where(name, p) for p in exc.problems]) from None


def _where(name: str, problem: Located) -> str:
    return f"{name}:{problem.line + 1}:{problem.column + 1}: {problem.text}"


def _parse_text(text: str) -> Any:
    if text.lstrip()[:1] not in ("{", "["):
        return parse_yaml(text)
    try:
        return _parse_json(text)
    except json.JSONDecodeError as json_error:
        # YAML's flow style looks like JSON without always being JSON ({Key: value}).
        try:
            return parse_yaml(text)
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


def _parse_json(text: str) -> Any:
    problems = list(_json_structure(text))
    if problems:
        raise Problems(problems)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise Located(0, 0, f"not valid JSON: {exc}") from None


def _json_structure(text: str) -> Iterator[Located]:
    """Nesting past ``MAX_DEPTH`` (found before ``json`` recurses into it) and each
    repeated key, located: a flat scan of strings and brackets."""
    objects: list[dict[str, int] | None] = []  # per open bracket: its keys' lines, or None
    for token in _JSON_TOKEN.finditer(text):
        lexeme = token.group()
        if lexeme in ("{", "["):
            objects.append({} if lexeme == "{" else None)
            if len(objects) > MAX_DEPTH:
                yield Located(*position(text, token.start()), too_deep())
                return
        elif lexeme in ("}", "]"):
            if objects:
                objects.pop()
        elif token.group(1) and objects and (keys := objects[-1]) is not None:
            try:
                key = json.loads(lexeme[: lexeme.rindex('"') + 1])
            except ValueError:
                continue  # json.loads reports the bad string itself
            line, column = position(text, token.start())
            if key in keys:
                yield Located(line, column, duplicate(key, line, keys[key]))
            else:
                keys[key] = line
