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

import yaml  # type: ignore[import-untyped]
from cfn_tools.yaml_loader import CfnYamlLoader  # type: ignore[import-untyped]
from private_s3_processor.rules import MAX_NESTING_DEPTH, MAX_TEMPLATE_BYTES

# CloudFormation's quota "Template body size in an Amazon S3 object", 1 MB, counted as
# cfn-lint's E1002 and the processed-template check count it. The template given to the
# transform is submitted to CloudFormation too, so nothing deployable is refused here.
MAX_BYTES = MAX_TEMPLATE_BYTES
# cfn-lint's bound on alias-resolved values (cfnlint/decode/cfn_yaml.py, _MAX_EXPANDED_NODES).
MAX_EXPANDED_NODES = 250_000
# Maps and lists inside one another, an intrinsic's short tag counting as the map it
# stands for. The golden inputs nest at most 9 deep, their expansions 13, the project's
# own stacks 11; 100 keeps every later walk (deepcopy, json, the expansion, at up to 3
# frames a level) far inside Python's 1,000-frame recursion limit.
MAX_DEPTH = MAX_NESTING_DEPTH

_YAML = "tag:yaml.org,2002:"
_UNSUPPORTED_TAGS = ("binary", "omap", "pairs", "set")
# A JSON string (a key when a colon follows it) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[{}\[\]]', re.DOTALL)


class TemplateSyntaxError(Exception):
    """The file cannot be read as a template; ``messages`` holds one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


class _Located(Exception):
    """A problem at a 0-based line and column; ``parse`` names the file."""

    def __init__(self, line: int, column: int, text: str) -> None:
        super().__init__(text)
        self.line, self.column, self.text = line, column, text


class _Problems(Exception):
    def __init__(self, problems: list[_Located]) -> None:
        super().__init__(problems[0].text)
        self.problems = problems


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
    except _Located as exc:
        raise TemplateSyntaxError([_where(name, exc)]) from None
    except _Problems as exc:
        raise TemplateSyntaxError([_where(name, p) for p in exc.problems]) from None


def _where(name: str, problem: _Located) -> str:
    return f"{name}:{problem.line + 1}:{problem.column + 1}: {problem.text}"


def _parse_text(text: str) -> Any:
    if text.lstrip()[:1] not in ("{", "["):
        return _parse_yaml(text)
    try:
        return _parse_json(text)
    except json.JSONDecodeError as json_error:
        # YAML's flow style looks like JSON without always being JSON ({Key: value}).
        try:
            return _parse_yaml(text)
        except _Located:
            raise _Located(
                json_error.lineno - 1,
                json_error.colno - 1,
                f"not valid JSON or YAML: {json_error.msg}",
            ) from None


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep (maps, lists and intrinsic functions)"


def _duplicate(key: str, line: int, first: int) -> str:
    # cfn-lint's E0000 wording, naming both places.
    return f"Duplicate found {key!r} (line {line + 1}), first on line {first + 1}"


# --- JSON -------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (ECMA-404, which CloudFormation follows)
    # has no such values.
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(text: str) -> Any:
    problems = list(_json_structure(text))
    if problems:
        raise _Problems(problems)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise _Located(0, 0, f"not valid JSON: {exc}") from None


def _json_structure(text: str) -> Iterator[_Located]:
    """Nesting past ``MAX_DEPTH`` (found before ``json`` recurses into it) and each
    repeated key, located: a flat scan of strings and brackets."""
    objects: list[dict[str, int] | None] = []  # per open bracket: its keys' lines, or None
    for token in _JSON_TOKEN.finditer(text):
        lexeme = token.group()
        if lexeme in ("{", "["):
            objects.append({} if lexeme == "{" else None)
            if len(objects) > MAX_DEPTH:
                yield _Located(*_position(text, token.start()), _too_deep())
                return
        elif lexeme in ("}", "]"):
            if objects:
                objects.pop()
        elif token.group(1) and objects and (keys := objects[-1]) is not None:
            try:
                key = json.loads(lexeme[: lexeme.rindex('"') + 1])
            except ValueError:
                continue  # json.loads reports the bad string itself
            line, column = _position(text, token.start())
            if key in keys:
                yield _Located(line, column, _duplicate(key, line, keys[key]))
            else:
                keys[key] = line


def _position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)


# --- YAML -------------------------------------------------------------------------------


def _levels(tag: Any, collection: bool) -> int:
    """How many levels of JSON a node becomes: a map or list is one, a short form such
    as ``!Ref`` wraps it (or a scalar) in one more."""
    return int(collection) + int(isinstance(tag, str) and tag.startswith("!"))


class _Loader(CfnYamlLoader):  # type: ignore[misc]
    """cfn-flip's loader (short tags such as ``!GetAtt a.b``) with the bounds above."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0
        self.problems: list[_Located] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            return super().compose_node(parent, index)
        levels = _levels(event.tag, isinstance(event, yaml.CollectionStartEvent))
        self.depth += levels
        try:
            if self.depth > MAX_DEPTH:
                raise _Located(event.start_mark.line, event.start_mark.column, _too_deep())
            return super().compose_node(parent, index)
        finally:
            self.depth -= levels

    def compose_mapping_node(self, anchor: Any) -> Any:
        """Keys are checked as written, once per mapping, before any merge."""
        node = super().compose_mapping_node(anchor)
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            mark = key_node.start_mark
            if key_node.tag == f"{_YAML}merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Located(mark.line, mark.column, "a mapping key must be a string")
            if key_node.tag == f"{_YAML}null" and not key_node.style:
                raise _Located(mark.line, mark.column, f"null key {key_node.value!r}")
            if key_node.value in seen:
                self.problems.append(
                    _Located(
                        mark.line,
                        mark.column,
                        _duplicate(key_node.value, mark.line, seen[key_node.value]),
                    )
                )
            else:
                seen[key_node.value] = mark.line
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[str, Any]:
        """A plain dict keyed by the text written; merged keys come first, so the
        mapping's own keys override them (YAML's merge, as the AWS CLI and SAM read it)."""
        if not isinstance(node, yaml.MappingNode):
            mark = node.start_mark
            raise _Located(mark.line, mark.column, "expected a mapping")
        self.flatten_mapping(node)
        return {str(k.value): self.construct_object(v, deep=deep) for k, v in node.value}

    def construct_as_written(self, node: Any) -> str:
        return str(self.construct_scalar(node))

    def construct_unsupported(self, node: Any) -> Any:
        mark = node.start_mark
        tag = node.tag.removeprefix(_YAML)
        raise _Located(mark.line, mark.column, f"YAML tag !!{tag} is not supported")


def _map(loader: _Loader, node: Any) -> Iterator[dict[str, Any]]:
    # Yield first and fill afterwards, as PyYAML does, so an alias may use the mapping.
    data: dict[str, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor(f"{_YAML}map", _map)
_Loader.add_constructor(f"{_YAML}timestamp", _Loader.construct_as_written)
for _tag in _UNSUPPORTED_TAGS:
    _Loader.add_constructor(f"{_YAML}{_tag}", _Loader.construct_unsupported)


def _parse_yaml(text: str) -> Any:
    try:
        loader = _Loader(text)  # checks the characters first
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise _Located(
            line, column, f"not valid YAML: character #x{exc.character:04x} is not allowed"
        ) from None
    try:
        node = loader.get_single_node()
        if loader.problems:  # found as each mapping closes: inner ones first
            raise _Problems(sorted(loader.problems, key=lambda p: (p.line, p.column)))
        if node is None:
            return None
        if loader.aliases:
            _check_expansion(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(filter(None, [exc.context, exc.problem]))
        raise _Located(
            mark.line if mark else 0, mark.column if mark else 0, f"not valid YAML: {what}"
        ) from None
    except yaml.YAMLError as exc:
        raise _Located(0, 0, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    # A pass through JSON unshares what aliases shared (changing one use must not change
    # the others) and leaves plain JSON values only.
    return json.loads(json.dumps(data))


def _check_expansion(root: Any) -> None:
    """Bound what aliases expand to: the values (counted as cfn-lint counts them) and the
    depth. Each distinct node is measured once, so this takes time in proportion to the
    file however large the expansion; it stops past ``MAX_DEPTH``, so its own recursion
    stays as shallow as the bound."""
    # id -> (values, levels deep, characters of the scalars it expands to)
    measured: dict[int, tuple[int, int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: Any, above: int) -> tuple[int, int, int]:
        mark = node.start_mark
        known = measured.get(id(node))
        if known is None:
            if id(node) in open_nodes:
                raise _Located(mark.line, mark.column, "a YAML alias refers to a node holding it")
            known = _measure_new(node, above)
        if above + known[1] > MAX_DEPTH:
            raise _Located(mark.line, mark.column, f"{_too_deep()} once YAML aliases expand")
        return known

    def _measure_new(node: Any, above: int) -> tuple[int, int, int]:
        mark = node.start_mark
        collection = isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
        levels = _levels(node.tag, collection)
        if above + levels > MAX_DEPTH:
            raise _Located(mark.line, mark.column, f"{_too_deep()} once YAML aliases expand")
        children = [v for _, v in node.value] if isinstance(node, yaml.MappingNode) else []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        open_nodes.add(id(node))
        values, below = 1 + int(_levels(node.tag, False) > 0), 0  # a short form adds its map
        # Few values can still be large: one long scalar aliased many times over. What
        # the aliases expand to must fit the template size CloudFormation accepts.
        chars = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        if isinstance(node, yaml.MappingNode):
            chars += sum(len(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode))
        for child in children:
            child_values, child_levels, child_chars = measure(child, above + levels)
            values += child_values
            chars += child_chars
            below = max(below, child_levels)
            if values > MAX_EXPANDED_NODES:
                raise _Located(
                    mark.line,
                    mark.column,
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(CloudFormation rejects aliases; the AWS CLI and SAM expand them)",
                )
            if chars > MAX_BYTES:
                raise _Located(
                    mark.line,
                    mark.column,
                    f"YAML aliases expand to more than {MAX_BYTES:,} characters, more than "
                    "a template CloudFormation accepts",
                )
        open_nodes.discard(id(node))
        measured[id(node)] = (values, levels + below, chars)
        return measured[id(node)]

    measure(root, 0)
